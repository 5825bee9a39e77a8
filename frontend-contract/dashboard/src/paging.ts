// Paging a list by cursor with the way back kept in the URL: `after` is the cursor of the page
// shown ("" for the first), `back` the cursors of the pages before it, comma-separated (a
// cursor is base64url: no commas). Older pushes the page shown, Newer pops the last one.

export type Position = {
  after: string;
  back: string;
};

export function older(at: Position, next: string): Position {
  return { after: next, back: [...stack(at.back), at.after].join(",") };
}

export function newer(at: Position): Position {
  const before = stack(at.back);
  const previous = before.pop() ?? "";
  return { after: previous, back: before.join(",") };
}

function stack(back: string): string[] {
  return back ? back.split(",") : [];
}
