// Roundcube in Debian's chromium (headless, through playwright-core, as
// tests/browser/e2e.mjs), driven by tests/roundcube_live.rs (issue 19).
//
// Usage: node roundcube.mjs URL USER PASSWORD FOLDER SUBJECT LINK OUT_DIR SCREENSHOT
// Logs in to Roundcube at URL, opens FOLDER, double-clicks the message
// whose subject is SUBJECT (Roundcube's full message view), screenshots it
// to SCREENSHOT, then:
// - reads the displayed body's text and its links (href and text);
// - lists the attachment entries Roundcube shows (name, size text) and
//   downloads each as Roundcube's own "Download" does (name, SHA-256);
// - clicks the body's link whose href is LINK, as a reader would, and
//   saves the download it gives (suggested name, SHA-256);
// - reads the body again in Roundcube's "Plain text" view (_format=text).
// Prints one JSON object.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const [url, user, password, folder, subject, link, outDir, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: node roundcube.mjs URL USER PASSWORD FOLDER SUBJECT LINK OUT_DIR SCREENSHOT');
  process.exit(2);
}
const modules = process.env.PLAYWRIGHT_MODULES;
if (!modules) {
  console.error('PLAYWRIGHT_MODULES is not set (scripts/browser-harness modules prints it)');
  process.exit(2);
}
const require = createRequire(path.join(modules, 'x.js'));
const { chromium } = require('playwright-core');

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const timeout = (ms, what) =>
  // unref: a timer that did not fire must not keep node running.
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref());

// The file name a Content-Disposition gives (RFC 6266: filename* first).
function dispositionName(value) {
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(value);
  if (star) return decodeURIComponent(star[2].trim());
  const plain = /filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;]+)/i.exec(value);
  if (plain) return (plain[1] ?? plain[2]).replace(/\\(.)/g, '$1').trim();
  return '';
}

const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
const out = { ms: {} };
const t0 = Date.now();
const mark = (what) => { out.ms[what] = Date.now() - t0; };
try {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('#rcmloginuser', user);
  await page.fill('#rcmloginpwd', password);
  await Promise.all([page.waitForURL(/_task=mail/), page.click('#rcmloginsubmit')]);
  mark('loggedIn');

  await page.goto(`${url}?_task=mail&_mbox=${encodeURIComponent(folder)}`);
  const row = page.locator('#messagelist tbody tr', { hasText: subject }).first();
  await row.waitFor();
  await Promise.all([page.waitForURL(/_action=show/), row.dblclick()]);
  await page.locator('#messagebody').waitFor();
  out.showUrl = page.url();
  out.bodyText = await page.locator('#messagebody').innerText();
  out.bodyLinks = await page.$$eval('#messagebody a[href]', (as) =>
    as.map((a) => ({ href: a.href, text: a.textContent.trim(), target: a.target })));
  out.attachments = await page.$$eval('#attachment-list li', (lis) =>
    lis.map((li) => {
      const a = li.querySelector('a.filename') || li.querySelector('a');
      const name = li.querySelector('.attachment-name');
      const size = li.querySelector('.attachment-size');
      return {
        name: (name ? name.textContent : (a ? a.textContent : li.textContent)).trim(),
        size: size ? size.textContent.trim() : '',
        href: a ? a.href : '',
        className: li.className,
      };
    }));
  await page.screenshot({ path: screenshot });
  mark('shown');

  // Each entry as Roundcube's "Download" gives it (the same session).
  for (const entry of out.attachments) {
    if (!entry.href) continue;
    const u = new URL(entry.href);
    u.searchParams.delete('_frame');
    u.searchParams.set('_download', '1');
    const res = await context.request.get(u.toString());
    const body = await res.body();
    entry.status = res.status();
    entry.contentType = res.headers()['content-type'] || '';
    entry.disposition = res.headers()['content-disposition'] || '';
    entry.length = body.length;
    entry.sha256 = sha256(body);
  }

  // The note's link, clicked as a reader would. Roundcube opens external
  // links in a new tab; there Chromium either downloads the file or, for a
  // type it shows itself (a PDF), opens it in its viewer.
  const anchor = await page.evaluateHandle(
    (want) => [...document.querySelectorAll('#messagebody a[href]')].find((a) => a.href === want) || null,
    link);
  out.clicked = await anchor.evaluate((a) => a !== null);
  if (out.clicked) {
    const got = new Promise((resolve) => {
      const watch = (p) => {
        p.on('download', (d) => resolve({ download: d }));
        p.on('response', (r) => {
          if (r.url() === link && r.request().isNavigationRequest()) resolve({ response: r, page: p });
        });
      };
      page.on('download', (d) => resolve({ download: d }));
      context.on('page', watch);
    });
    await anchor.asElement().click();
    const r = await Promise.race([got, timeout(15000, 'a download or a tab showing the note link')]);
    out.download = path.join(outDir, 'note-link-download');
    if (r.download) {
      out.linkOpened = 'download';
      await r.download.saveAs(out.download);
      out.downloadName = r.download.suggestedFilename();
    } else {
      // Chromium shows a PDF in its viewer: the tab is at the link, but
      // the viewer took the stream over (Playwright sees neither headers
      // nor bytes), so the same URL is fetched again in this context.
      out.linkOpened = 'tab';
      out.tabUrl = r.page.url();
      const again = await context.request.get(link);
      const h = again.headers();
      out.linkStatus = again.status();
      out.linkContentType = h['content-type'] || '';
      out.linkDisposition = h['content-disposition'] || '';
      out.downloadName = dispositionName(out.linkDisposition);
      await writeFile(out.download, await again.body());
    }
    out.downloadSha256 = sha256(await readFile(out.download));
    mark('linkOpened');
  }

  // The same message in Roundcube's "Plain text" view: the note's text/plain.
  await page.goto(`${out.showUrl}&_format=text`);
  await page.locator('#messagebody').waitFor();
  out.plainBodyText = await page.locator('#messagebody').innerText();
  out.plainBodyLinks = await page.$$eval('#messagebody a[href]', (as) => as.map((a) => a.href));
  mark('plainText');
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
