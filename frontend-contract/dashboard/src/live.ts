// Subscriptions as Preact hooks: each stream is resumed after a reconnect from the last cursor
// its handler saw (the variables are asked again at every (re)subscription), and its messages
// reach the component in one batch per animation frame, whatever their rate.
import { useEffect, useRef } from "preact/hooks";
import { FrameBatcher } from "./buffer";
import { subscribe, type Document } from "./api";
import { recordArrivals } from "./metrics";

export function useLive<TResult, TVariables>(
  document: Document<TResult, TVariables>,
  variables: () => TVariables,
  onBatch: (batch: TResult[]) => void,
  deps: unknown[],
  onComplete?: () => void,
  enabled = true,
): void {
  const handler = useRef(onBatch);
  handler.current = onBatch;
  const completed = useRef(onComplete);
  completed.current = onComplete;
  useEffect(() => {
    if (!enabled) return undefined;
    const batcher = new FrameBatcher<{ data: TResult; at: number }>((batch) => {
      handler.current(batch.map((m) => m.data));
      recordArrivals(batch.map((m) => m.at));
    });
    return subscribe(
      document,
      variables,
      (data) => batcher.add({ data, at: performance.now() }),
      () => completed.current?.(),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, enabled]);
}
