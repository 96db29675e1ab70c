/** What the dashboard uses of blessed that its published types leave out. */
import "blessed";

declare module "blessed" {
  namespace Widgets {
    interface ListTableElement {
      /** The selected row, the header being row 0. */
      selected: number;
    }
    interface Screen {
      /** Reallocates the screen's buffers, so the next render draws everything. */
      alloc(): void;
      onceKey(keys: string[], fn: (ch: unknown, key: { name: string }) => void): void;
    }
  }
}
