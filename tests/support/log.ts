/** Captures what `console.error` prints while `fn` runs (stacks included). */
export async function capturingErrors(fn: () => Promise<void>): Promise<string> {
  const original = console.error;
  let text = "";
  console.error = (...args: unknown[]) => {
    text += args.map((a) => (a instanceof Error ? a.stack : String(a))).join(" ") + "\n";
  };
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return text;
}
