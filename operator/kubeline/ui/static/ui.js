/* kubeline UI: live updates over Server-Sent Events, the step panel, small conveniences.
   Every piece of data is set with textContent or setAttribute, never parsed as HTML; fragments the server
   rendered (autoescaped) are parsed with DOMParser, where no script runs. */
"use strict";

(function () {
  const SEGMENTS = ["succeeded", "running", "failed", "skipped"];

  function phaseClass(phase) {
    return "phase-" + String(phase || "none").toLowerCase();
  }

  function setBadge(el, phase) {
    if (!el) return;
    el.textContent = phase;
    for (const c of Array.from(el.classList)) if (c.startsWith("phase-")) el.classList.remove(c);
    el.classList.add(phaseClass(phase));
  }

  function setProgress(container, progress) {
    if (!container) return;
    const total = progress.total || 0;
    let x = 0;
    for (const seg of SEGMENTS) {
      const rect = container.querySelector('rect[data-seg="' + seg + '"]');
      const width = total ? (100 * (progress[seg] || 0)) / total : 0;
      if (rect) {
        rect.setAttribute("x", String(x));
        rect.setAttribute("width", String(width));
      }
      x += width;
    }
    const count = container.querySelector(".count");
    if (count) count.textContent = (progress.succeeded + progress.failed + progress.skipped) + "/" + total;
  }

  function live(url, handlers) {
    const indicator = document.getElementById("live");
    const source = new EventSource(url);
    source.addEventListener("open", () => indicator && indicator.classList.add("on"));
    source.addEventListener("error", () => indicator && indicator.classList.remove("on"));
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
    }
    window.addEventListener("pagehide", () => source.close());
    return source;
  }

  // -- the runs list ------------------------------------------------------------------------------------

  function fillRow(tr, row, base) {
    tr.dataset.run = row.key;
    tr.className = phaseClass(row.phase);
    const pick = tr.querySelector("td.pick input");
    if (pick) pick.value = row.key;
    const link = tr.querySelector("td.name a");
    if (link && !link.getAttribute("href")) {
      link.setAttribute("href", base + "/runs/" + encodeURIComponent(row.namespace) + "/" + encodeURIComponent(row.name));
      link.textContent = row.name;
      const ns = tr.querySelector("td.name .ns");
      if (ns) ns.textContent = row.namespace;
    }
    tr.querySelector("td.pipeline").textContent = row.pipeline;
    tr.querySelector("td.experiment").textContent = row.experiment;
    const badge = tr.querySelector("td.phase .badge");
    setBadge(badge, row.phase);
    badge.title = row.message;
    setProgress(tr.querySelector("td.progress-cell"), row.progress);
    tr.querySelector("td.started").textContent = row.started;
    tr.querySelector("td.duration").textContent = row.duration;
    for (const cell of tr.querySelectorAll("td.metric")) {
      const value = row.metrics[cell.dataset.metric];
      cell.textContent = value === undefined ? "" : Number(value.toPrecision(4)).toString();
    }
  }

  function countRuns(delta) {
    // "N" or "N of M" in the heading: both numbers move with a row inserted or removed live
    const total = document.getElementById("runs-total");
    if (total) total.textContent = total.textContent.replace(/\d+/g, (n) => String(Math.max(0, Number(n) + delta)));
  }

  function runsList(table) {
    const base = document.body.dataset.base || "";
    const body = table.tBodies[0];
    const template = document.getElementById("run-row-template");
    const insert = table.dataset.liveInsert === "yes";
    live(table.dataset.events, {
      row(row) {
        let tr = body.querySelector('tr[data-run="' + CSS.escape(row.key) + '"]');
        if (!tr) {
          if (!insert || !template) return;
          tr = template.content.querySelector("tr").cloneNode(true);
          const empty = body.querySelector("tr.empty");
          if (empty) empty.remove();
          body.insertBefore(tr, body.firstChild);
          countRuns(1);
        }
        fillRow(tr, row, base);
      },
      removed(message) {
        const tr = body.querySelector('tr[data-run="' + CSS.escape(message.key) + '"]');
        if (tr) {
          tr.remove();
          countRuns(-1);
        }
      },
      reload() {
        window.location.reload();
      },
    });
    const compare = document.getElementById("compare");
    if (compare) {
      // works without this too (a GET form); with it, Compare waits for two ticked runs
      const update = () => {
        compare.disabled = table.querySelectorAll("td.pick input:checked").length < 2;
      };
      table.addEventListener("change", update);
      update();
    }
  }

  // -- a run --------------------------------------------------------------------------------------------

  let logStream = null;
  let nodes = {}; // graph node id -> {task, phase, cached, counts, className, title, steps}

  function followLog(panel) {
    if (logStream) {
      logStream.close();
      logStream = null;
    }
    const pre = panel.querySelector("#step-log");
    if (!pre || !pre.dataset.follow) return;
    const text = document.createTextNode("");
    pre.replaceChildren(text);
    logStream = new EventSource(pre.dataset.follow);
    logStream.addEventListener("chunk", (event) => {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      text.appendData(JSON.parse(event.data));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    logStream.addEventListener("end", () => {
      logStream.close();
      logStream = null;
    });
  }

  async function loadStep(run, step) {
    const panel = document.getElementById("step-panel");
    const response = await fetch(run.dataset.stepsUrl + encodeURIComponent(step), { headers: { Accept: "text/html" } });
    const html = await response.text();
    const parsed = new DOMParser().parseFromString(html, "text/html");
    panel.replaceChildren(...Array.from(parsed.body.childNodes).map((n) => document.importNode(n, true)));
    panel.dataset.step = step;
    delete panel.dataset.node;
    followLog(panel);
    selectNode(Object.keys(nodes).find((id) => nodes[id].steps.includes(step)));
    const url = new URL(window.location.href);
    url.searchParams.set("step", step);
    window.history.replaceState(null, "", url.toString());
  }

  function chooseStep(run, node, steps, phases) {
    const panel = document.getElementById("step-panel");
    const title = document.createElement("h2");
    title.textContent = node.task + " (" + steps.length + " steps)";
    const summary = document.createElement("p");
    summary.className = "muted node-summary";
    summary.textContent = node.title || "";
    const list = document.createElement("ul");
    list.className = "step-choices";
    for (const step of steps) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "?step=" + encodeURIComponent(step);
      link.textContent = step;
      link.dataset.step = step;
      link.className = "step-link";
      const badge = document.createElement("span");
      setBadge(badge, phases[step] || "Pending");
      badge.classList.add("badge");
      item.append(link, " ", badge);
      list.appendChild(item);
    }
    panel.replaceChildren(title, summary, list);
    panel.dataset.node = node.id;
    delete panel.dataset.step;
  }

  function setNode(id, state) {
    const element = document.getElementById(id);
    if (!element) return;
    const selected = element.classList.contains("selected") ? " selected" : "";
    element.setAttribute("class", state.className + selected);
    const title = element.querySelector("title");
    if (title) title.textContent = state.title;
  }

  function graphData() {
    const element = document.getElementById("graph-data");
    const data = element ? JSON.parse(element.textContent || "{}") : {};
    for (const [id, node] of Object.entries(data.nodes || {})) node.id = id;
    return { nodes: data.nodes || {}, steps: data.steps || {} };
  }

  function selectNode(id) {
    for (const other of document.querySelectorAll("#graph g.node.selected")) other.classList.remove("selected");
    const element = id ? document.getElementById(id) : null;
    if (element) element.classList.add("selected");
  }

  function stepRow(step, phase) {
    // a step that started after the page was rendered: its link and phase (the rest comes with a reload)
    const tr = document.createElement("tr");
    tr.dataset.step = step;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.className = "step-link";
    link.href = "?step=" + encodeURIComponent(step);
    link.dataset.step = step;
    link.textContent = step;
    name.append(link);
    const cell = document.createElement("td");
    cell.className = "phase";
    const badge = document.createElement("span");
    badge.className = "badge";
    cell.append(badge);
    setBadge(badge, phase);
    tr.append(name, cell);
    for (let i = 0; i < 4; i++) tr.append(document.createElement("td"));
    return tr;
  }

  function updateStepRows(steps) {
    const table = document.querySelector("table.steps");
    if (!table) return;
    const body = table.tBodies[0];
    const limit = Number(table.dataset.limit || 0);
    for (const [step, phase] of Object.entries(steps)) {
      const row = body.querySelector('tr[data-step="' + CSS.escape(step) + '"]');
      if (row) setBadge(row.querySelector(".badge"), phase);
      else if (body.rows.length < limit) body.append(stepRow(step, phase));
    }
    const count = document.getElementById("step-count");
    if (count) count.textContent = String(Math.max(Number(count.textContent) || 0, body.rows.length));
  }

  function runPage(run) {
    const data = graphData();
    nodes = data.nodes;
    const phases = data.steps;
    const graph = document.getElementById("graph");
    const panel = document.getElementById("step-panel");
    graph.addEventListener("click", (event) => {
      const target = event.target.closest("g.node");
      if (!target) return;
      event.preventDefault();
      const node = nodes[target.id];
      const steps = node ? node.steps : [];
      if (steps.length === 1) loadStep(run, steps[0]);
      else if (steps.length >= 1) chooseStep(run, node, steps, phases);
      else {
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = (node ? node.title : target.id) + " — no step has started for it yet.";
        panel.replaceChildren(note);
      }
      selectNode(target.id);
    });
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a.step-link");
      if (!link) return;
      event.preventDefault();
      loadStep(run, link.dataset.step);
    });
    followLog(panel);
    const current = panel.querySelector(".step");
    if (current) {
      // a panel rendered with the page (?step=…): its node shown selected, as after a click
      panel.dataset.step = current.dataset.step;
      selectNode(Object.keys(nodes).find((id) => nodes[id].steps.includes(current.dataset.step)));
    }

    const FINISHED = ["Succeeded", "Failed", "Cancelled"];
    const finishedAtLoad = FINISHED.includes(document.getElementById("run-phase").textContent.trim());
    live(run.dataset.events, {
      run(state) {
        if (!finishedAtLoad && FINISHED.includes(state.phase)) {
          // the run ended: the page as rendered for a finished run (its actions, times, outputs, timeline)
          window.location.reload();
          return;
        }
        setBadge(document.getElementById("run-phase"), state.phase);
        document.getElementById("run-message").textContent = state.message;
        document.getElementById("run-started").textContent = state.started || "—";
        document.getElementById("run-duration").textContent = state.duration || "—";
        setProgress(document.getElementById("run-progress"), state.progress);
        for (const [id, node] of Object.entries(state.nodes)) {
          node.id = id;
          nodes[id] = node;
          setNode(id, node);
        }
        Object.assign(phases, state.steps);
        updateStepRows(state.steps);
        const open = panel.querySelector(".step");
        if (open) {
          const phase = state.steps[open.dataset.step];
          if (phase && phase !== open.dataset.phase) loadStep(run, open.dataset.step);
        } else if (panel.dataset.node && state.nodes[panel.dataset.node]) {
          const node = nodes[panel.dataset.node];
          chooseStep(run, node, node.steps, phases);
        }
      },
      deleted() {
        setBadge(document.getElementById("run-phase"), "Deleted");
      },
      reload() {
        window.location.reload();
      },
    });
  }

  // -- everywhere ---------------------------------------------------------------------------------------

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.classList.contains("confirm") && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.querySelector("table.runs[data-events]");
    if (table) runsList(table);
    const run = document.getElementById("run");
    if (run) runPage(run);
  });
})();
