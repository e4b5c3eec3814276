// slimbox's browser end-to-end steps, driven by tests/browser_live.rs:
// Debian's chromium (/usr/bin/chromium, headless) through playwright-core
// (installed by scripts/browser-harness; its node_modules in
// PLAYWRIGHT_MODULES). Never downloads a browser.
//
// Usage: node e2e.mjs PAGE_URL SEARCH_NAME STUB_LINK OUT_DIR
// Opens the page, searches SEARCH_NAME, downloads the first file, clicks
// "put back" on it, then opens STUB_LINK (a link taken from a stub) and
// downloads what it serves. Prints one JSON object: the downloads' paths
// and suggested names, the rows found, and the put-back page's text; and
// for issue 20 any Content-Security-Policy complaint on the page, whether
// its style sheet applied, and what the page shows when another page
// frames it.
import { createRequire } from 'node:module';
import path from 'node:path';

const [pageUrl, searchName, stubLink, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node e2e.mjs PAGE_URL SEARCH_NAME STUB_LINK OUT_DIR');
  process.exit(2);
}
const modules = process.env.PLAYWRIGHT_MODULES;
if (!modules) {
  console.error('PLAYWRIGHT_MODULES is not set (scripts/browser-harness modules prints it)');
  process.exit(2);
}
const require = createRequire(path.join(modules, 'x.js'));
const { chromium } = require('playwright-core');

const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
const out = {};
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  // Issue 20: the pages' strict Content-Security-Policy must block nothing
  // they use (their one style sheet is allowed by its hash).
  out.cspErrors = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) out.cspErrors.push(m.text());
  });
  const opened = await page.goto(pageUrl);
  out.pageStatus = opened.status();
  out.styled = await page.evaluate(() => getComputedStyle(document.body).maxWidth);

  // Issue 20: another site framing the page (clickjacking) gets nothing.
  const framer = await context.newPage();
  await framer.setContent(`<iframe id="f" src="${pageUrl}"></iframe>`);
  await framer.waitForTimeout(1500);
  const framed = framer.frames().find((f) => f !== framer.mainFrame());
  out.frameFound = Boolean(framed);
  out.framedShows = framed
    ? await framed.evaluate(() => document.body ? document.body.innerText : '').catch(() => '')
    : '';
  await framer.close();
  out.rowsBefore = await page.locator('ul.files li').count();

  await page.fill('input[name=name]', searchName);
  await Promise.all([page.waitForURL(/name=/), page.click('button:has-text("Search")')]);
  const rows = page.locator('ul.files li');
  out.rowsFound = await rows.count();
  out.namesFound = await rows.locator('.name').allTextContents();

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    rows.first().locator('a:has-text("Download")').click(),
  ]);
  out.download = path.join(outDir, 'page-download');
  await download.saveAs(out.download);
  out.downloadName = download.suggestedFilename();

  await Promise.all([
    page.waitForURL(/put-back/),
    rows.first().locator('button:has-text("Put the original message back")').click(),
  ]);
  out.putBack = (await page.textContent('body')).trim();

  // A link from a stub, opened as a mail client would: a new tab.
  const tab = await context.newPage();
  const [stubDownload] = await Promise.all([
    tab.waitForEvent('download'),
    tab.goto(stubLink).catch(() => null), // a download aborts the navigation
  ]);
  out.stubDownload = path.join(outDir, 'stub-download');
  await stubDownload.saveAs(out.stubDownload);
  out.stubDownloadName = stubDownload.suggestedFilename();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
