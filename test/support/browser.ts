/** Debian's Chromium, headless, through playwright-core: a page opened from a file with the network cut off. */
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface OfflinePage {
  page: Page;
  /** Every request the page tried other than its own file: each was failed. */
  blocked: string[];
  /** Errors the page's scripts threw. */
  errors: string[];
  close(): Promise<void>;
}

/** Opens `file` in a fresh headless Chromium; every request but the file itself fails. */
export async function openOffline(
  file: string,
  viewport = { width: 1200, height: 900 },
): Promise<OfflinePage> {
  // The tests run as root, where Chromium's sandbox cannot start.
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox"],
    timeout: 30_000,
  });
  const url = `file://${file}`;
  const blocked: string[] = [];
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport });
    await page.route("**/*", (route) => {
      const requested = route.request().url();
      if (requested === url) return route.continue();
      blocked.push(requested);
      return route.abort("internetdisconnected");
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url, { timeout: 30_000 });
    return { page, blocked, errors, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
