// Chrome-context helpers for tests/support/thunderbird.rs, run in
// Thunderbird's main window through Marionette (WebDriver:ExecuteAsyncScript).
// The Rust side appends a call of `run` (at the end): each command below is one async
// function of an object of arguments, returning something JSON can carry.
//
// What they read is Thunderbird's own state: `currentAttachments` of the
// message browser (AttachmentInfo objects, comm-central
// mail/modules/AttachmentInfo.sys.mjs), its attachment list, and the
// displayed message's DOM. What they do is what a reader's click does:
// AttachmentInfo.save() (with a file picker that answers OK in a known
// folder), AttachmentInfo.open() (with a recording helper app stored as the
// handler of the entry's type, so no dialog), and a click on a link of the
// message (an http(s) link goes to the external browser: the recording app
// stored as the protocol's handler).

const { MailServices } = ChromeUtils.importESModule(
  "resource:///modules/MailServices.sys.mjs"
);
const { FileUtils } = ChromeUtils.importESModule(
  "resource://gre/modules/FileUtils.sys.mjs"
);
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function waitFor(what, f, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(100);
  }
}

function about3Pane() {
  return document.getElementById("tabmail").currentAbout3Pane;
}

function aboutMessage() {
  return about3Pane().messageBrowser.contentWindow;
}

function recorderApp(path) {
  const app = Cc["@mozilla.org/uriloader/local-handler-app;1"].createInstance(
    Ci.nsILocalHandlerApp
  );
  app.executable = new FileUtils.File(path);
  app.name = "slimbox test recorder";
  return app;
}

// Stores `app` as what Thunderbird uses, without asking, for `info`.
function storeHandler(info, app) {
  info.preferredApplicationHandler = app;
  info.preferredAction = Ci.nsIHandlerInfo.useHelperApp;
  info.alwaysAskBeforeHandling = false;
  Cc["@mozilla.org/uriloader/handler-service;1"]
    .getService(Ci.nsIHandlerService)
    .store(info);
}

const commands = {
  // Stores the IMAP password, goes online, makes http(s) links open in the
  // recorder (as the external browser), and lays the window out for a
  // screenshot: classic three panes, the message below the list.
  async setup({ user, password, recorder }) {
    const login = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(
      Ci.nsILoginInfo
    );
    login.init("imap://127.0.0.1", null, "imap://127.0.0.1", user, password, "", "");
    await Services.logins.addLoginAsync(login);
    Services.io.offline = false;
    const eps = Cc[
      "@mozilla.org/uriloader/external-protocol-service;1"
    ].getService(Ci.nsIExternalProtocolService);
    for (const scheme of ["http", "https"]) {
      storeHandler(eps.getProtocolHandlerInfo(scheme), recorderApp(recorder));
    }
    Services.prefs.setIntPref("mail.pane_config.dynamic", 0);
    window.resizeTo(screen.availWidth, screen.availHeight);
    window.moveTo(0, 0);
    return { offline: Services.io.offline, version: Services.appinfo.version };
  },

  // Displays the message of that subject in that folder (plain: the
  // "Message Body As: Plain Text" view) and describes what the reader sees.
  async show({ folder, subject, plain }) {
    Services.prefs.setBoolPref("mailnews.display.prefer_plaintext", !!plain);
    Services.prefs.setIntPref("mailnews.display.html_as", plain ? 1 : 0);
    await display(folder, subject);
    // The attachment list open, as after a click on its toggle: each
    // entry's name and size in view (for the screenshot).
    aboutMessage().toggleAttachmentList(true);
    return describe();
  },

  // AttachmentInfo.save() of every entry, the file picker answering OK in
  // `dir` with the name Thunderbird proposes.
  async save({ folder, subject, dir }) {
    await display(folder, subject);
    const picked = [];
    const restore = mockFilePicker(dir, picked);
    const out = [];
    try {
      const w = aboutMessage();
      for (const a of w.currentAttachments) {
        out.push({ name: a.name, path: await a.save(w.browsingContext) });
      }
    } finally {
      restore();
    }
    return { saved: out, proposed: picked };
  },

  // AttachmentInfo.open() of every entry, the recorder stored as the
  // handler of the entry's type and extension.
  async open({ folder, subject, recorder }) {
    await display(folder, subject);
    const w = aboutMessage();
    const mime = Cc["@mozilla.org/mime;1"].getService(Ci.nsIMIMEService);
    const out = [];
    for (const a of w.currentAttachments) {
      const ext = a.name.includes(".") ? a.name.split(".").pop() : "";
      storeHandler(mime.getFromTypeAndExtension(a.contentType, ext), recorderApp(recorder));
      await a.open(w.browsingContext);
      out.push(a.name);
    }
    return out;
  },

  // A click on the `index`th link of the displayed message; what the
  // console said meanwhile (a refused load is logged there).
  async click({ folder, subject, index }) {
    await display(folder, subject);
    const browser = aboutMessage().getMessagePaneBrowser();
    const link = browser.contentDocument.querySelectorAll("a[href]")[index];
    if (!link) {
      throw new Error(`no link ${index} in the message`);
    }
    const said = [];
    const listener = { observe: m => said.push(m.message ?? String(m)) };
    Services.console.registerListener(listener);
    try {
      // click() from chrome is a trusted click: it takes the path a
      // reader's click takes (contentAreaClick, then the link handler).
      link.click();
      await sleep(1500);
    } finally {
      Services.console.unregisterListener(listener);
    }
    return {
      href: link.href,
      paneUrl: browser.currentURI.spec,
      console: said.filter(s => /Security Error|not allowed|blocked/i.test(s)),
    };
  },
};

// The folder of that URI, listing the account's folders (IMAP LIST) first
// when Thunderbird does not know it yet (a fresh profile knows INBOX only).
async function findFolder(folderURI) {
  const known = MailServices.folderLookup.getFolderForURL(folderURI);
  if (known) {
    return known;
  }
  const server = MailServices.accounts.defaultAccount.incomingServer;
  // The LIST's end is not always reported to the listener (a folder pane
  // refresh may take the URL over); the folder turning up is what counts.
  MailServices.imap.discoverAllFolders(server.rootFolder, null, null);
  return waitFor(`the folder ${folderURI} (after listing the folders)`, () =>
    MailServices.folderLookup.getFolderForURL(folderURI)
  );
}

// Asks the server for the folder's new messages; their headers turning up
// is what counts (an update already under way would not report to a
// listener of a second one).
function updateFolder(folder) {
  try {
    folder.updateFolder(null);
  } catch (e) {
    // Busy with an update already: that one brings the headers.
  }
}

// Shows the message in the 3-pane tab and waits until it is displayed.
async function display(folderURI, subject) {
  const folder = (await findFolder(folderURI)).QueryInterface(
    Ci.nsIMsgImapMailFolder
  );
  let asked = 0;
  const hdr = await waitFor(`a message "${subject}" in ${folderURI}`, () => {
    if (asked++ % 30 == 0) {
      updateFolder(folder);
    }
    return [...folder.messages].find(h => h.mime2DecodedSubject == subject);
  });
  const pane = about3Pane();
  if (pane.gFolder?.URI != folder.URI) {
    pane.displayFolder(folder.URI);
  }
  const w = aboutMessage();
  const shown = w.gMessage?.messageId == hdr.messageId;
  const loaded = new Promise(resolve =>
    w.addEventListener("MsgLoaded", function l(e) {
      if (e.detail?.messageId == hdr.messageId) {
        w.removeEventListener("MsgLoaded", l);
        resolve();
      }
    })
  );
  // Shown already (maybe in the other view): load it afresh, as the View
  // menu does after "Message Body As".
  if (shown) {
    w.ReloadMessage();
  } else {
    pane.selectMessage(hdr);
  }
  await Promise.race([
    loaded,
    sleep(20000).then(() => {
      throw new Error(`the message "${subject}" did not load within 20 s`);
    }),
  ]);
  return hdr;
}

// The entries as Thunderbird holds and lists them, and the displayed body.
async function describe() {
  const w = aboutMessage();
  // An external entry's size comes from a fetch (AttachmentInfo.isEmpty);
  // let it finish so the size is what the list shows.
  for (const a of w.currentAttachments) {
    if (a.isExternalAttachment && !a.sizeResolved) {
      await a.isEmpty();
    }
  }
  const entries = w.currentAttachments.map(a => ({
    name: a.name,
    contentType: a.contentType,
    size: Number(a.size),
    url: a.url,
    isExternalAttachment: !!a.isExternalAttachment,
    isAllowedURL: a.isAllowedURL,
    hasFile: a.hasFile,
  }));
  const listed = [...w.document.getElementById("attachmentList").children].map(
    item => ({
      name:
        (item.querySelector(".attachmentcell-name")?.textContent ?? "") +
        (item.querySelector(".attachmentcell-extension")?.textContent ?? ""),
      size: item.querySelector(".attachmentcell-size")?.textContent ?? "",
      notFound: item.classList.contains("notfound"),
    })
  );
  const doc = w.getMessagePaneBrowser().contentDocument;
  return {
    entries,
    listed,
    text: doc.body.innerText,
    links: [...doc.querySelectorAll("a[href]")].map(a => ({
      href: a.href,
      text: a.textContent,
    })),
  };
}

// Replaces the file picker with one that answers OK at once, in `dir`,
// with the name Thunderbird proposed; returns what undoes it.
function mockFilePicker(dir, picked) {
  function Picker() {}
  Picker.prototype = {
    QueryInterface: ChromeUtils.generateQI(["nsIFilePicker"]),
    init(_ctx, title, mode) {
      this.mode = mode;
    },
    appendFilter() {},
    appendFilters() {},
    appendRawFilter() {},
    defaultString: "",
    defaultExtension: "",
    displayDirectory: null,
    displaySpecialDirectory: "",
    filterIndex: 0,
    addToRecentDocs: false,
    okButtonLabel: "",
    get file() {
      const f = new FileUtils.File(dir);
      if (this.mode != Ci.nsIFilePicker.modeGetFolder) {
        f.append(this.defaultString);
      }
      return f;
    },
    get fileURL() {
      return Services.io.newFileURI(this.file);
    },
    get files() {
      return [this.file][Symbol.iterator]();
    },
    open(cb) {
      picked.push(this.defaultString);
      Services.tm.dispatchToMainThread(() =>
        typeof cb == "function"
          ? cb(Ci.nsIFilePicker.returnOK)
          : cb.done(Ci.nsIFilePicker.returnOK)
      );
    },
  };
  const registrar = Components.manager.QueryInterface(Ci.nsIComponentRegistrar);
  const contract = "@mozilla.org/filepicker;1";
  const cid = Services.uuid.generateUUID();
  const old = registrar.contractIDToCID(contract);
  const factory = {
    createInstance: iid => new Picker().QueryInterface(iid),
    QueryInterface: ChromeUtils.generateQI(["nsIFactory"]),
  };
  registrar.registerFactory(cid, "slimbox test file picker", contract, factory);
  return () => {
    registrar.unregisterFactory(cid, factory);
    registrar.registerFactory(old, "", contract, null);
  };
}

// The Rust side calls `run(NAME, arguments[0], arguments[1])`: the second
// argument of an async script is Marionette's callback.
function run(name, args, resolve) {
  commands[name](args).then(
    value => resolve({ ok: value }),
    e => resolve({ error: `${e}\n${e.stack ?? ""}` })
  );
}
