/**
 * Logging in and keeping the tokens fresh. The server's `login` and `refreshToken` mutations
 * answer `AuthTokens` or `AuthFailed` (code `invalid_credentials`, `too_many_attempts` with
 * `retryAfter`, `token_reused`...). A refresh token is used up by its refresh (rotation):
 * always keep the new one.
 */
import { expectResult } from "./errors.js";
import { LoginDocument, LogoutDocument, RefreshTokenDocument } from "./gql/graphql.js";
import type { HttpExecutor } from "./http.js";

/** The tokens of a login or refresh, with when the access token expires (epoch ms). */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

function tokensOf(
  answer: { accessToken: string; refreshToken: string; expiresIn: number },
  now: number,
): Tokens {
  return {
    accessToken: answer.accessToken,
    refreshToken: answer.refreshToken,
    expiresAt: now + answer.expiresIn * 1000,
  };
}

/** Log in; throws `ResultError` (code `invalid_credentials`...) when refused. */
export async function login(http: HttpExecutor, username: string, password: string): Promise<Tokens> {
  const data = await http.anonymous().request(LoginDocument, { username, password });
  return tokensOf(expectResult(data.login, "AuthTokens"), Date.now());
}

/** New tokens for a refresh token (which is used up). */
export async function refresh(http: HttpExecutor, refreshToken: string): Promise<Tokens> {
  const data = await http.anonymous().request(RefreshTokenDocument, { refreshToken });
  return tokensOf(expectResult(data.refreshToken, "AuthTokens"), Date.now());
}

/** End the session of a refresh token: its access tokens stop working at once (needs the
 * access token: `logout` is for a logged-in user). */
export async function logout(http: HttpExecutor, refreshToken: string): Promise<void> {
  const data = await http.request(LogoutDocument, { refreshToken });
  expectResult(data.logout, "LoggedOut");
}

export interface SessionOptions {
  /** Refresh this long before the access token expires (default 30 s). */
  refreshMarginMs?: number;
  /** Told of every new pair of tokens (to persist them), and of null after logout/failure. */
  onTokens?: (tokens: Tokens | null) => void;
}

/**
 * Holds the tokens of one user and hands out a valid access token, refreshing it shortly
 * before it expires. Concurrent callers share one refresh (a refresh token works once).
 * Use `session.accessToken` as the `token` of the HTTP executor and of the subscriptions.
 */
export class Session {
  private tokens: Tokens | null;
  private refreshing: Promise<Tokens> | null = null;
  private readonly margin: number;

  constructor(
    private readonly http: HttpExecutor,
    tokens: Tokens | null = null,
    private readonly options: SessionOptions = {},
  ) {
    this.tokens = tokens;
    this.margin = options.refreshMarginMs ?? 30_000;
  }

  get current(): Tokens | null {
    return this.tokens;
  }

  async login(username: string, password: string): Promise<Tokens> {
    return this.set(await login(this.http, username, password));
  }

  /** A valid access token, refreshed first when it is about to expire; null when logged out. */
  accessToken = async (): Promise<string | null> => {
    if (this.tokens === null) {
      return null;
    }
    if (Date.now() < this.tokens.expiresAt - this.margin) {
      return this.tokens.accessToken;
    }
    return (await this.refresh()).accessToken;
  };

  /** New tokens now (after a 401 or a websocket closed with 4403); one refresh at a time. */
  refresh = async (): Promise<Tokens> => {
    if (this.refreshing === null) {
      const current = this.tokens;
      if (current === null) {
        throw new Error("not logged in");
      }
      this.refreshing = refresh(this.http, current.refreshToken)
        .then((tokens) => this.set(tokens))
        .catch((error: unknown) => {
          this.set(null);
          throw error;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return await this.refreshing;
  };

  /** End the session on the server (with the access token: the executor given to the
   * constructor must send this session's token), then forget the tokens. */
  async logout(): Promise<void> {
    const current = this.tokens;
    try {
      if (current !== null) {
        await logout(this.http, current.refreshToken);
      }
    } finally {
      this.set(null);
    }
  }

  private set<T extends Tokens | null>(tokens: T): T {
    this.tokens = tokens;
    this.options.onTokens?.(tokens);
    return tokens;
  }
}
