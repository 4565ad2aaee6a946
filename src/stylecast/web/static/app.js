// The stylecast page: a client of the REST API (see /docs) plus one WebRTC connection.
// Server text (style credits, file names, errors) is only ever set as textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

// What tests and benchmarks/web_load.py read from the page.
const stylecast = {
  styles: [],
  primary: null,
  secondary: "",
  blend: 0.5,
  strength: 1,
  knob: 0.5,
  hasKnob: false,
  preserveColor: false,
  peerId: null,
  stats: { fps: 0, framesPresented: 0, serverFps: 0, serverLatencyMs: null, bufferMs: null, dropped: 0 },
  lastError: null,
};
window.stylecast = stylecast;

let limits = { max_upload_mb: Infinity, max_painting_mb: Infinity };
let pc = null;
let channel = null;
let cameraStream = null;
let statsTimer = null;

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON: keep the status */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
  if (isError) stylecast.lastError = text;
}

// --- styles ---------------------------------------------------------------------------------------

function styleSpec() {
  const { primary, secondary, blend } = stylecast;
  if (!secondary || secondary === primary || blend <= 0) return primary;
  if (blend >= 1) return secondary;
  return `${primary}:${(1 - blend).toFixed(3)},${secondary}:${blend.toFixed(3)}`;
}

function controls() {
  const fields = { style: styleSpec(), strength: stylecast.strength, preserve_color: stylecast.preserveColor };
  if (stylecast.hasKnob) fields.knob = stylecast.knob;  // a model without the trained knob refuses one
  return fields;
}

async function loadStyles(select) {
  stylecast.styles = await api("/api/styles");
  if (select) stylecast.primary = select;
  if (!stylecast.primary || !stylecast.styles.some((s) => s.name === stylecast.primary)) {
    stylecast.primary = stylecast.styles.length ? stylecast.styles[0].name : null;
  }
  renderGallery();
  renderBlendChoices();
}

function credits(style) {
  const work = [style.artist, style.title].filter(Boolean).join(", ");
  return style.year ? `${work} (${style.year})` : work;
}

function renderGallery() {
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const style of stylecast.styles) {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "style-card";
    card.dataset.name = style.name;
    card.setAttribute("aria-pressed", String(style.name === stylecast.primary));
    card.classList.toggle("blend", style.name === stylecast.secondary);
    const image = document.createElement("img");
    image.alt = "";
    image.loading = "lazy";
    if (style.thumbnail) image.src = style.thumbnail;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = style.name;
    const work = document.createElement("span");
    work.className = "work";
    work.textContent = credits(style);
    const credit = document.createElement("span");
    credit.className = "credit";
    credit.textContent = style.credit;
    card.append(image, name, work, credit);
    card.title = [credits(style), style.credit].filter(Boolean).join(" · ");
    card.addEventListener("click", () => selectStyle(style.name));
    gallery.append(card);
  }
}

function renderBlendChoices() {
  const select = $("blend-style");
  const keep = stylecast.secondary;
  select.replaceChildren(new Option("(none)", ""));
  for (const style of stylecast.styles) select.append(new Option(style.name, style.name));
  select.value = stylecast.styles.some((s) => s.name === keep) ? keep : "";
  stylecast.secondary = select.value;
}

function selectStyle(name) {
  stylecast.primary = name;
  for (const card of $("gallery").children) {
    card.setAttribute("aria-pressed", String(card.dataset.name === name));
  }
  sendControls();
}

// --- live -----------------------------------------------------------------------------------------

function cameraSize() {
  const match = /^(\d+)x(\d+)$/.exec(new URLSearchParams(location.search).get("size") || "");
  return match ? [Number(match[1]), Number(match[2])] : [640, 480];
}

function waitForIceGathering(connection) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (connection.iceGatheringState === "complete") {
        connection.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    connection.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // the host candidates are in by then; aiortc takes no trickled ones anyway
  });
}

async function startLive() {
  const status = $("live-status");
  $("start").disabled = true;
  try {
    const [width, height] = cameraSize();
    cameraStream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: width }, height: { ideal: height } }, audio: false,
    });
    $("camera").srcObject = cameraStream;
    pc = new RTCPeerConnection({ iceServers: [] });
    channel = pc.createDataChannel("controls");
    channel.onmessage = (event) => onServerMessage(JSON.parse(event.data));
    channel.onopen = () => sendControls();
    pc.addTransceiver(cameraStream.getVideoTracks()[0], { direction: "sendrecv" });
    pc.ontrack = (event) => {
      $("stylized").srcObject = new MediaStream([event.track]);
      watchFrames();
    };
    pc.onconnectionstatechange = () => {
      if (pc && pc.connectionState === "failed") {
        say(status, "The connection to the server failed: press Start camera to try again.", true);
        stopLive();
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answer = await api("/api/rtc/offer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type, ...controls() }),
    });
    stylecast.peerId = answer.peer_id;
    await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
    document.querySelector(".stage").classList.add("running");
    $("stop").disabled = false;
    say(status, "");
    statsTimer = setInterval(updateFigures, 500);
  } catch (error) {
    say(status, `Could not start: ${error.message}`, true);
    stopLive();
  }
}

function stopLive() {
  if (statsTimer) clearInterval(statsTimer);
  statsTimer = null;
  if (channel) channel.close();
  if (pc) pc.close();
  if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
  pc = channel = cameraStream = null;
  stylecast.peerId = null;
  $("stylized").srcObject = null;
  $("camera").srcObject = null;
  document.querySelector(".stage").classList.remove("running");
  $("start").disabled = false;
  $("stop").disabled = true;
}

function sendControls() {
  if (channel && channel.readyState === "open") {
    channel.send(JSON.stringify({ type: "controls", ...controls() }));
  } else if (stylecast.peerId) {
    api(`/api/rtc/${stylecast.peerId}/controls`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(controls()),
    }).catch((error) => say($("live-status"), error.message, true));
  }
}

function onServerMessage(message) {
  if (message.type === "stats") {
    stylecast.stats.serverFps = message.fps;
    stylecast.stats.serverLatencyMs = message.latency_ms ? message.latency_ms.p50 : null;
    stylecast.stats.dropped = message.dropped;
    $("live-size").textContent = message.size ? `at ${message.size}` : "";
  } else if (message.type === "error") {
    say($("live-status"), message.detail, true);
  } else if (message.type === "state") {
    say($("live-status"), "");
  }
}

// Frames shown, counted where they are shown: requestVideoFrameCallback fires once per presented frame.
const shownAt = [];
function watchFrames() {
  const video = $("stylized");
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
  const onFrame = (now, metadata) => {
    stylecast.stats.framesPresented = metadata.presentedFrames;
    shownAt.push(now);
    while (shownAt.length && now - shownAt[0] > 2000) shownAt.shift();
    if (pc) video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

async function updateFigures() {
  const now = performance.now();
  while (shownAt.length && now - shownAt[0] > 2000) shownAt.shift();
  const span = shownAt.length > 1 ? shownAt[shownAt.length - 1] - shownAt[0] : 0;
  stylecast.stats.fps = span > 0 ? ((shownAt.length - 1) * 1000) / span : 0;
  if (pc) {
    const report = await pc.getStats();
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "video" && entry.jitterBufferEmittedCount) {
        stylecast.stats.bufferMs = (1000 * entry.jitterBufferDelay) / entry.jitterBufferEmittedCount;
      }
    });
  }
  const s = stylecast.stats;
  $("fps").textContent = s.fps.toFixed(1);
  $("latency").textContent = s.serverLatencyMs == null ? "–" : `${s.serverLatencyMs.toFixed(0)} ms`;
  $("buffer").textContent = s.bufferMs == null ? "–" : `${s.bufferMs.toFixed(0)} ms`;
  $("dropped").textContent = String(s.dropped);
}

// --- your own painting ----------------------------------------------------------------------------

function suggestedName(fileName) {
  const stem = fileName.replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9_-]+/g, "_");
  return stem.replace(/^[_-]+/, "").slice(0, 40) || "my_painting";
}

let uploadedPainting = null;

async function uploadPainting(event) {
  event.preventDefault();
  const status = $("painting-status");
  const file = $("painting-file").files[0];
  if (!file) return;
  if (file.size > limits.max_painting_mb * 1048576) {
    say(status, `${file.name} is over the server's limit of ${limits.max_painting_mb} MB: choose a smaller file.`, true);
    return;
  }
  const form = new FormData();
  form.append("file", file);
  say(status, "Reading the painting…");
  const started = performance.now();
  try {
    const style = await api("/api/paintings", { method: "POST", body: form });
    uploadedPainting = style.name;
    await Promise.all([loadStyles(style.name), showPreview(style.name, file.name, started)]);
    sendControls();
    $("adapt-name").value = suggestedName(file.name);
    $("adapt").hidden = false;
    say(status, `Now painting with ${file.name} (instant style ${style.name}).`);
  } catch (error) {
    say(status, error.message, true);
  }
}

// The painting beside a photo in its style, as soon as the style exists (the camera may be off).
function showPreview(name, fileName, started) {
  const figure = $("painting-preview");
  const styled = $("painting-styled");
  const loaded = new Promise((resolve) => {
    styled.onload = () => {
      const seconds = (performance.now() - started) / 1000;
      figure.dataset.seconds = seconds.toFixed(3);  // read by benchmarks/web_preview.py
      $("painting-caption").textContent = `${fileName} as a style, ${seconds.toFixed(1)} s after you chose it`;
      figure.hidden = false;
      resolve();
    };
    styled.onerror = () => resolve();  // the status line says what went wrong, if anything did
  });
  $("painting-thumb").src = `/api/styles/${encodeURIComponent(name)}/thumbnail`;
  styled.src = `/api/styles/${encodeURIComponent(name)}/preview`;
  return loaded;
}

async function startAdaptation() {
  const status = $("painting-status");
  try {
    const job = await api("/api/styles/adapt", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        painting: uploadedPainting, name: $("adapt-name").value, minutes: Number($("adapt-minutes").value),
      }),
    });
    say(status, `Adapting as “${job.input_name}”: see the jobs below.`);
    refreshJobs();
  } catch (error) {
    say(status, error.message, true);
  }
}

// --- video jobs -----------------------------------------------------------------------------------

function uploadVideo(event) {
  event.preventDefault();
  const status = $("video-status");
  const file = $("video-file").files[0];
  if (!file || !stylecast.primary) return;
  // Checked here too: a server that refuses mid-upload often reaches the browser as a reset connection.
  if (file.size > limits.max_upload_mb * 1048576) {
    say(status, `${file.name} is over the server's limit of ${limits.max_upload_mb} MB: trim or re-encode it.`, true);
    return;
  }
  const form = new FormData();
  form.append("file", file);
  const { style, strength, knob, preserve_color: preserveColor } = controls();
  form.append("style", style);
  form.append("strength", String(strength));
  if (knob !== undefined) form.append("knob", String(knob));
  form.append("preserve_color", String(preserveColor));
  // XMLHttpRequest rather than fetch: it reports upload progress, which a big video needs.
  const request = new XMLHttpRequest();
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  request.onload = () => {
    bar.hidden = true;
    let body = null;
    try { body = JSON.parse(request.responseText); } catch (_) { /* shown below */ }
    if (request.status === 202) {
      say(status, `Queued ${body.input_name}.`);
      refreshJobs();
    } else {
      say(status, (body && body.detail) || `upload failed (${request.status})`, true);
    }
  };
  request.onerror = () => { bar.hidden = true; say(status, "The upload failed: is the server running?", true); };
  request.open("POST", "/api/jobs");
  request.send(form);
  say(status, `Uploading ${file.name}…`);
}

const jobElements = new Map();
const finishedStyleJobs = new Set();

function jobText(job) {
  if (job.state === "queued") {
    return job.queue_position ? `queued (${job.queue_position} ahead)` : "queued (next)";
  }
  if (job.state === "running") {
    const unit = job.kind === "stylize" ? "frames" : "steps";
    const count = job.total ? `${job.done}/${job.total}` : String(job.done);
    return `running: ${count} ${unit}, ${Math.round(100 * job.progress)}%`;
  }
  if (job.state === "failed") return `failed: ${job.error}`;
  if (job.kind === "add-style") return `done: style “${job.result.style}” is in your library`;
  return `done: ${job.result.frames} frames at ${job.result.fps} fps`;
}

function renderJob(job) {
  let element = jobElements.get(job.id);
  if (!element) {
    element = document.createElement("li");
    element.className = "job";
    element.dataset.id = job.id;
    const head = document.createElement("header");
    const title = document.createElement("strong");
    title.textContent = job.kind === "stylize" ? job.input_name : `new style ${job.input_name}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.addEventListener("click", async () => {
      try {
        await api(`/api/jobs/${job.id}`, { method: "DELETE" });
        element.remove();
        jobElements.delete(job.id);
      } catch (error) { say($("video-status"), error.message, true); }
    });
    head.append(title, remove);
    const bar = document.createElement("progress");
    bar.max = 1;
    const text = document.createElement("span");
    text.className = "state";
    element.append(head, bar, text);
    $("jobs").prepend(element);
    jobElements.set(job.id, element);
  }
  element.dataset.state = job.state;
  element.querySelector("progress").value = job.progress;
  element.querySelector("progress").hidden = job.state === "done" || job.state === "failed";
  element.querySelector(".state").textContent = jobText(job);
  if (job.result_url && !element.querySelector("video")) {
    const player = document.createElement("video");
    player.controls = true;
    player.preload = "metadata";
    player.src = job.result_url;
    const actions = document.createElement("div");
    actions.className = "actions";
    const link = document.createElement("a");
    link.href = job.result_url;
    link.download = "";
    link.textContent = "Download";
    link.className = "download";
    actions.append(link);
    element.append(player, actions);
  }
  if (job.kind === "add-style" && job.state === "done" && !finishedStyleJobs.has(job.id)) {
    finishedStyleJobs.add(job.id);
    loadStyles();
  }
}

async function refreshJobs() {
  try {
    const jobs = await api("/api/jobs");
    const seen = new Set(jobs.map((job) => job.id));
    for (const [id, element] of jobElements) {
      if (!seen.has(id)) { element.remove(); jobElements.delete(id); }
    }
    jobs.forEach(renderJob);
  } catch (error) {
    say($("video-status"), `Cannot list the jobs: ${error.message}`, true);
  }
}

// --- wiring ---------------------------------------------------------------------------------------

function bindRange(id, key, outputId, onChange) {
  const input = $(id);
  const update = () => {
    stylecast[key] = Number(input.value);
    $(outputId).textContent = stylecast[key].toFixed(2);
    onChange();
  };
  input.addEventListener("input", update);
  stylecast[key] = Number(input.value);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("start").addEventListener("click", startLive);
  $("stop").addEventListener("click", stopLive);
  bindRange("strength", "strength", "strength-value", sendControls);
  bindRange("knob", "knob", "knob-value", sendControls);
  bindRange("blend", "blend", "blend-value", sendControls);
  $("blend-style").addEventListener("change", (event) => {
    stylecast.secondary = event.target.value;
    for (const card of $("gallery").children) card.classList.toggle("blend", card.dataset.name === stylecast.secondary);
    sendControls();
  });
  $("preserve-color").addEventListener("change", (event) => {
    stylecast.preserveColor = event.target.checked;
    sendControls();
  });
  $("painting-form").addEventListener("submit", uploadPainting);
  $("adapt-start").addEventListener("click", startAdaptation);
  $("video-form").addEventListener("submit", uploadVideo);
  window.addEventListener("pagehide", stopLive);
  try {
    limits = await api("/api/health");
    stylecast.hasKnob = Boolean(limits.knob);
    $("knob-control").hidden = !stylecast.hasKnob;
    await loadStyles();
  } catch (error) {
    say($("live-status"), `Cannot load the styles: ${error.message}`, true);
  }
  document.body.dataset.ready = "true";
  await refreshJobs();
  setInterval(refreshJobs, 1000);
});
