// The job widget's front end (an anywidget ES module; docs/architecture.md, DESIGN §12).
//
// The kernel renders what a job looks like (the `view` HTML, the `progress`, the `jobs`
// it shows); this module adds what must answer while the notebook runs another cell:
// the Stop / Receive / Remove / Send buttons and the bell.
//
// A click goes to the kernel over a comm this module opens itself ("ipyjobs.control").
// JupyterLab >= 4.4 and Notebook >= 7.4 send a comm the *front end* opens to a kernel
// subshell when the kernel has them (ipykernel >= 7), so the click is handled on its own
// thread within milliseconds while the main shell is busy. A comm the kernel opens, as
// every widget's, waits for the running cell. Where there is no kernel connection to open
// a comm on (other front ends), the click goes as a custom message on the widget's own
// comm, and acts once the kernel is idle (docs/decisions.md, "Reach while busy").

const TARGET = "ipyjobs.control";
const CHANNELS = new WeakMap(); // kernel connection -> Promise<channel>
const FINAL = new Set(["Completed", "Failed", "Stopped"]);
const BELLS = new EventTarget(); // "<key>": a bell switched on or off, for every view
let requests = 0;

/** A control channel on `kernel`: one comm per kernel connection, opened on a subshell
 * where the kernel and the front end have them. */
async function openChannel(kernel) {
  const comm = kernel.createComm(TARGET);
  const pending = new Map();
  const channel = { comm, pending, closed: false };
  comm.onMsg = (msg) => {
    const reply = msg.content.data;
    const settle = pending.get(reply.request);
    if (settle) {
      pending.delete(reply.request);
      settle.resolve(reply);
    }
  };
  comm.onClose = () => {
    // The kernel has no such target (ipyjobs not loaded), or it restarted.
    channel.closed = true;
    CHANNELS.delete(kernel);
    for (const settle of pending.values()) settle.reject(new Error("channel closed"));
    pending.clear();
  };
  await kernel.info;
  if (kernel.supportsSubshells && comm.commsOverSubshells !== "disabled" && comm.subshellStarted) {
    // Until the subshell exists the comm would open on the (busy) main shell.
    await Promise.race([comm.subshellStarted, new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  comm.open({});
  return channel;
}

function channelFor(kernel) {
  let found = CHANNELS.get(kernel);
  if (!found) {
    found = openChannel(kernel);
    CHANNELS.set(kernel, found);
    found.catch(() => CHANNELS.delete(kernel));
  }
  return found;
}

function usableKernel(model) {
  const manager = model.widget_manager;
  const kernel = manager && manager.kernel;
  return kernel && typeof kernel.createComm === "function" && kernel.handleComms !== false
    ? kernel
    : null;
}

/** Ask the kernel to act; resolves with its reply ({message}). */
async function ask(model, fallback, payload) {
  const request = `${Date.now()}-${requests++}`;
  const body = { ...payload, request, key: model.get("key") };
  const kernel = usableKernel(model);
  if (kernel) {
    try {
      const channel = await channelFor(kernel);
      if (!channel.closed && !channel.comm.isDisposed) {
        return await new Promise((resolve, reject) => {
          channel.pending.set(request, { resolve, reject });
          channel.comm.send(body);
        });
      }
    } catch (error) {
      // fall through: the widget's own comm still reaches the kernel, once it is idle
    }
  }
  return new Promise((resolve) => {
    fallback.set(request, resolve);
    model.send(body);
  });
}

// -- the bell ---------------------------------------------------------------------------

function bellKey(model) {
  return `ipyjobs-bell:${model.get("key")}`;
}

function bellOn(model) {
  try {
    return window.localStorage.getItem(bellKey(model)) === "on";
  } catch (error) {
    return false;
  }
}

function setBell(model, on) {
  try {
    if (on) window.localStorage.setItem(bellKey(model), "on");
    else window.localStorage.removeItem(bellKey(model));
  } catch (error) {
    // storage refused (a private window): the bell holds for this view only
  }
  BELLS.dispatchEvent(new Event(model.get("key")));
}

/** Raise a desktop notification for each shown job that just ended or became Blocked. */
function watchForBell(model) {
  let seen = new Map((model.get("jobs") || []).map((job) => [job.id, job.state]));
  model.on("change:jobs", () => {
    const jobs = model.get("jobs") || [];
    const now = new Map(jobs.map((job) => [job.id, job.state]));
    if (bellOn(model) && typeof Notification !== "undefined" && Notification.permission === "granted") {
      for (const job of jobs) {
        const before = seen.get(job.id);
        const worth = FINAL.has(job.state) || job.state === "Blocked";
        if (worth && before !== undefined && before !== job.state) {
          // The tag makes two tabs of one notebook raise one notification, not two.
          new Notification(`${job.name} ${job.state}`, {
            body: job.reason || job.prompt || "",
            tag: `ipyjobs-${model.get("key")}-${job.id}-${job.state}`,
          });
        }
      }
    }
    seen = now;
  });
}

// -- the view -----------------------------------------------------------------------------

function button(text, icon, title) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "ipyjobs-button jupyter-button";
  element.textContent = text; // the accessible name: Stop, Receive, Remove, Send
  if (icon) element.dataset.icon = icon;
  if (title) element.title = title;
  return element;
}

function bellButton(model, say) {
  const bell = document.createElement("button");
  bell.type = "button";
  bell.className = "ipyjobs-bell jupyter-button";
  bell.textContent = "🔔";
  const show = () => {
    const on = bellOn(model);
    bell.setAttribute("aria-pressed", String(on));
    bell.setAttribute(
      "aria-label",
      on ? "Notify me: on" : "Notify me when it ends or waits for input",
    );
    bell.title = bell.getAttribute("aria-label");
  };
  bell.addEventListener("click", async () => {
    if (bellOn(model)) {
      setBell(model, false);
      return;
    }
    if (typeof Notification === "undefined") {
      say("This page cannot show notifications (it must be served over https or from localhost).");
      return;
    }
    const permission =
      Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    if (permission === "granted") {
      setBell(model, true);
      say("");
    } else {
      say("The browser refused notifications for this page (its site settings can allow them).");
    }
  });
  BELLS.addEventListener(model.get("key"), show);
  show();
  return [bell, () => BELLS.removeEventListener(model.get("key"), show)];
}

/** The prompt, a field and Send for one Blocked job; the field keeps what was typed across
 * refreshes. */
function askingRow(job, label, act) {
  const row = document.createElement("div");
  row.className = "ipyjobs-asking";
  const prompt = document.createElement("label");
  prompt.className = "ipyjobs-prompt";
  prompt.textContent = label;
  const field = document.createElement("input");
  field.type = job.secret ? "password" : "text";
  field.placeholder = "answer";
  field.className = "ipyjobs-answer";
  field.setAttribute("aria-label", job.prompt || "input");
  prompt.append(" ", field);
  const send = button("Send", "paper-plane");
  const sendIt = () => {
    const answer = field.value;
    field.value = "";
    act({ action: "send", job: job.id, answer });
  };
  send.addEventListener("click", sendIt);
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") sendIt();
  });
  row.append(prompt, send);
  return row;
}

function render({ model, el }) {
  const table = model.get("kind") === "table";
  const fallback = new Map();
  const onCustom = (content) => {
    const settle = content && fallback.get(content.request);
    if (settle) {
      fallback.delete(content.request);
      settle(content);
    }
  };
  model.on("msg:custom", onCustom);

  el.classList.add("ipyjobs-front", table ? "ipyjobs-front-table" : "ipyjobs-front-job");
  const view = document.createElement("div");
  view.className = "ipyjobs-view";
  const progress = document.createElement("div");
  progress.className = "ipyjobs-progress";
  const bar = document.createElement("progress");
  bar.max = 100;
  const barLabel = document.createElement("span");
  progress.append(bar, barLabel);
  const askings = document.createElement("div");
  askings.className = "ipyjobs-askings";
  const controls = document.createElement("div");
  controls.className = "ipyjobs-controls";
  const message = document.createElement("span");
  message.className = "ipyjobs-message";
  message.setAttribute("role", "status");
  const say = (text) => {
    message.textContent = text;
  };

  const act = async (payload) => {
    const reply = await ask(model, fallback, payload);
    say(reply.message || "");
  };

  // Table rows keep their buttons across refreshes: a refresh in the middle of a click
  // moves the same button into the new row, so the click is not lost.
  const rowButtons = new Map(); // job id -> [Stop, Receive, Remove]
  function rowButtonsFor(job) {
    let found = rowButtons.get(job.id);
    if (!found) {
      const what = `${job.name} (job ${job.id})`;
      found = [
        button("Stop", "stop", `Stop ${what}`),
        button("Receive", "download", `Receive ${what}`),
        button("Remove", "trash", `Remove ${what}`),
      ];
      for (const [element, action] of [[found[0], "stop"], [found[1], "receive"], [found[2], "remove"]]) {
        element.addEventListener("click", () => act({ action, job: job.id }));
      }
      rowButtons.set(job.id, found);
    }
    return found;
  }

  let mainButtons = null;
  if (!table) {
    mainButtons = {
      stop: button("Stop", "stop"),
      receive: button("Receive", "download"),
      remove: button("Remove", "trash"),
    };
    for (const [action, element] of Object.entries(mainButtons)) {
      element.addEventListener("click", () => act({ action }));
    }
    controls.append(mainButtons.stop, mainButtons.receive, mainButtons.remove);
  }
  const [bell, forgetBell] = bellButton(model, say);
  controls.append(bell, message);

  let askedFor = ""; // the prompts shown: rebuilt only when they change
  function update() {
    const jobs = model.get("jobs") || [];
    view.innerHTML = model.get("view");
    const shown = model.get("progress") || {};
    const reported = shown.percent !== undefined;
    progress.style.display = reported ? "" : "none";
    if (reported) {
      bar.value = shown.percent;
      barLabel.textContent = shown.label;
    }
    if (table) {
      for (const job of jobs) {
        const cell = view.querySelector(`td.ipyjobs-actions[data-job="${job.id}"]`);
        if (!cell) continue;
        const [stop, receive, remove] = rowButtonsFor(job);
        stop.disabled = job.finished;
        cell.append(stop, receive, remove);
      }
    } else if (jobs.length) {
      const job = jobs[0];
      mainButtons.stop.disabled = job.finished || job.removed;
      mainButtons.receive.disabled = job.removed;
      mainButtons.remove.disabled = job.removed;
    }
    const asking = jobs.filter((job) => job.prompt !== null && job.prompt !== undefined && !job.removed);
    const key = JSON.stringify(asking.map((job) => [job.id, job.prompt, job.secret]));
    if (key !== askedFor) {
      askedFor = key;
      askings.replaceChildren(
        ...asking.map((job) => {
          const text = (job.prompt || "").trim() || "input:";
          return askingRow(job, table ? `${job.name}: ${text}` : text, act);
        }),
      );
    }
  }
  model.on("change:view", update);
  model.on("change:jobs", update);
  model.on("change:progress", update);
  update();
  el.append(view, progress, askings, controls);

  // Open the channel now, so that the first click in a busy cell does not wait for it.
  const kernel = usableKernel(model);
  if (kernel) channelFor(kernel).catch(() => {});

  return () => {
    forgetBell();
    model.off("msg:custom", onCustom);
    model.off("change:view", update);
    model.off("change:jobs", update);
    model.off("change:progress", update);
  };
}

export default {
  initialize({ model }) {
    watchForBell(model);
  },
  render,
};
