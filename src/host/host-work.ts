/**
 * What the calls answered by one `autorun host serve` share, since they run side by side (a launch
 * does not wait behind another stage's worktree or a commit being taken in): the worktree adds
 * under way, so a launch never works in a worktree still being made ahead for it; and one queue
 * per project root for moving its refs, in the order the calls came (the controller sends a
 * later base after an earlier one, and the later one must stay).
 */
export class HostWork {
  private readonly adding = new Map<string, Promise<unknown>>();
  private readonly refMoves = new Map<string, Promise<unknown>>();

  /** `make` for `worktree`, after an add of it already under way (which `make` then finds made). */
  async add<T>(worktree: string, make: () => Promise<T>): Promise<T> {
    // No await between finding none under way and recording this one.
    for (let under = this.adding.get(worktree); under; under = this.adding.get(worktree)) await under.catch(() => undefined);
    const adding = make();
    this.adding.set(worktree, adding);
    try {
      return await adding;
    } finally {
      if (this.adding.get(worktree) === adding) this.adding.delete(worktree);
    }
  }

  /** `move` once the ref moves of `root` asked for before it are done. */
  inOrder<T>(root: string, move: () => Promise<T>): Promise<T> {
    const before = this.refMoves.get(root) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(move);
    const tail = mine.catch(() => undefined);
    this.refMoves.set(root, tail);
    void tail.then(() => {
      if (this.refMoves.get(root) === tail) this.refMoves.delete(root);
    });
    return mine;
  }
}
