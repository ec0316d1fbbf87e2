/**
 * A poll loop's sleep that `wake()` ends early. A wake that comes while the loop is busy is kept
 * for its next sleep, which then returns at once: news that arrives between a read and the sleep
 * after it, or a stop, is never slept through.
 */
export class WakeSignal {
  private pending = false;
  private wakeSleeper: (() => void) | undefined;

  wake(): void {
    if (this.wakeSleeper) this.wakeSleeper();
    else this.pending = true;
  }

  /** Waits `ms` at most; the timer alone does not keep the process alive. */
  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeSleeper = done;
    });
  }
}
