// Hash routing: the server serves only / (index.html) and /assets/, so every page of the app
// is a fragment (#/instances/7) and a reload never asks the server for an unknown path.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function parse(hash: string): Route {
  const [path, query] = hash.replace(/^#\/?/, "").split("?", 2);
  return { path: path ? path.split("/").map(decodeURIComponent) : [], query: new URLSearchParams(query ?? "") };
}

export function href(path: string, query?: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const q = params.toString();
  return `#/${path}${q ? `?${q}` : ""}`;
}

export function navigate(path: string, query?: Record<string, string | number | undefined | null>): void {
  location.hash = href(path, query);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parse(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}
