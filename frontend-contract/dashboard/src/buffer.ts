// Bounded, batched state for live streams: events arrive at any rate (a burst of a thousand a
// second), the screen is redrawn at most once per animation frame, and a timeline keeps only
// its last entries so that rendering cost does not grow with an instance's age.

export class Bounded<T> {
  items: T[] = [];
  dropped = 0;
  constructor(readonly limit: number) {}

  push(...items: T[]): void {
    this.items.push(...items);
    const over = this.items.length - this.limit;
    if (over > 0) {
      this.items.splice(0, over);
      this.dropped += over;
    }
  }

  clear(): void {
    this.items = [];
    this.dropped = 0;
  }
}

type Schedule = (flush: () => void) => void;

const nextFrame: Schedule = (flush) => {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => flush());
  else setTimeout(flush, 16);
};

/** Collects items and hands them over in one batch per frame. */
export class FrameBatcher<T> {
  private pending: T[] = [];
  private scheduled = false;
  constructor(
    private readonly deliver: (batch: T[]) => void,
    private readonly schedule: Schedule = nextFrame,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      const batch = this.pending;
      this.pending = [];
      if (batch.length) this.deliver(batch);
    });
  }
}
