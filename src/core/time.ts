/** Local date and time for file names and log lines, without loading a date library into the monitor. */
const two = (n: number) => String(n).padStart(2, "0");

/** `2026-12-03 18:04:05` (`sep` between date and time, `colon` between hours, minutes and seconds). */
export function localStamp(d: Date, sep = " ", colon = ":"): string {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}${sep}${two(d.getHours())}${colon}${two(d.getMinutes())}${colon}${two(d.getSeconds())}`;
}
