/** Small text rules shared by the packager and the repository. */

/** True when `text` holds a C0 control character (newline, tab, NUL, …) or DEL. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
