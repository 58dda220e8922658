// app.js — the demo page: pick a model from /models, send an image to
// /classify or /segment (format=json) exactly as curl would, and show the
// answer: top-k with bars, or the photo with the mask over it, a legend and
// the timings. Plain DOM, no framework, no eval, no inline script (the page
// is served with a Content-Security-Policy that forbids both).
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = 'skipserve-api-key';
  let models = [];
  let seg = null; // {photo, mask, palette, width, height}

  function authHeaders() {
    const k = sessionStorage.getItem(KEY);
    return k ? { Authorization: 'Bearer ' + k } : {};
  }

  async function api(path, init) {
    const opts = Object.assign({}, init || {});
    opts.headers = Object.assign({}, opts.headers || {}, authHeaders());
    const r = await fetch(path, opts);
    if (r.status === 401) $('keyrow').hidden = false;
    return r;
  }

  // The server's own words: {"error": {"code", "message"}} (or KServe's
  // {"error": "..."}), else the status line.
  async function errorText(r) {
    let body = '';
    try { body = await r.text(); } catch (_) { /* connection gone */ }
    try {
      const j = JSON.parse(body);
      if (j && j.error) {
        if (typeof j.error === 'string') return r.status + ': ' + j.error;
        return r.status + ' ' + j.error.code + ': ' + j.error.message;
      }
    } catch (_) { /* not JSON */ }
    return r.status + ' ' + r.statusText + (body ? ': ' + body.slice(0, 200) : '');
  }

  function showError(msg) {
    const e = $('error');
    e.textContent = msg;
    e.hidden = false;
  }

  function clearResult() {
    $('error').hidden = true;
    $('result').hidden = true;
    $('cls').hidden = true;
    $('seg').hidden = true;
  }

  function current() {
    return models.find((m) => m.name === $('model').value);
  }

  async function loadModels() {
    let r;
    try {
      r = await api('/models');
    } catch (e) {
      showError('cannot reach the server: ' + e.message);
      return;
    }
    if (!r.ok) {
      showError(await errorText(r));
      return;
    }
    const j = await r.json();
    models = j.models.filter((m) => m.status === 'ready');
    const sel = $('model');
    sel.textContent = '';
    for (const m of models) {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent = m.name;
      sel.appendChild(o);
    }
    const notReady = j.models.length - models.length;
    $('ready').textContent = models.length + ' model(s) ready' +
      (notReady ? ', ' + notReady + ' loading or failed' : '');
    showTask();
  }

  function showTask() {
    const m = current();
    $('task').textContent = m
      ? m.task + ' · input ' + m.input_shape.slice(1).join('×') + ' · ' + m.labels + ' classes'
      : 'no model is ready';
  }

  function fmtMs(x) { return (Math.round(x * 10) / 10).toFixed(1); }

  function showTiming(t, batch) {
    if (!t) return;
    $('timing').textContent = 'decode ' + fmtMs(t.decode) + ' ms · queue ' + fmtMs(t.queue) +
      ' ms · infer ' + fmtMs(t.infer) + ' ms · total ' + fmtMs(t.total) + ' ms' +
      (batch ? ' · batch of ' + batch : '');
  }

  function showClassify(j) {
    const list = $('topk');
    list.textContent = '';
    for (const p of j.predictions[0]) {
      const li = document.createElement('li');
      li.dataset.label = p.label;
      const name = document.createElement('span');
      name.className = 'label';
      name.textContent = p.label;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = (100 * p.score).toFixed(1) + '%';
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = (100 * p.score).toFixed(1) + '%';
      li.append(name, bar, score);
      list.appendChild(li);
    }
    $('cls').hidden = false;
  }

  // The class colours are the mask's own palette (its PLTE chunk), so the
  // legend can never disagree with the picture.
  function pngPalette(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let p = 8; p + 8 <= bytes.length;) {
      const len = dv.getUint32(p);
      const type = String.fromCharCode(bytes[p + 4], bytes[p + 5], bytes[p + 6], bytes[p + 7]);
      if (type === 'PLTE') {
        const pal = [];
        for (let i = 0; i + 2 < len; i += 3)
          pal.push([bytes[p + 8 + i], bytes[p + 9 + i], bytes[p + 10 + i]]);
        return pal;
      }
      if (type === 'IDAT' || type === 'IEND') break;
      p += 12 + len;
    }
    return [];
  }

  function drawOverlay() {
    if (!seg) return;
    const c = $('overlay');
    c.width = seg.width;
    c.height = seg.height;
    const g = c.getContext('2d');
    g.imageSmoothingEnabled = false;
    g.globalAlpha = 1;
    g.drawImage(seg.photo, 0, 0, seg.width, seg.height);
    g.globalAlpha = Number($('opacity').value) / 100;
    g.drawImage(seg.mask, 0, 0, seg.width, seg.height);
    g.globalAlpha = 1;
    $('opacity-value').textContent = $('opacity').value + '%';
  }

  async function showSegment(j, file) {
    const bin = atob(j.mask_png);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const blob = new Blob([bytes], { type: 'image/png' });
    const old = $('download').href;
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    $('download').href = URL.createObjectURL(blob);
    seg = {
      photo: await createImageBitmap(file),
      mask: await createImageBitmap(blob),
      palette: pngPalette(bytes),
      width: j.width,
      height: j.height,
    };
    drawOverlay();
    const body = $('legend').querySelector('tbody');
    body.textContent = '';
    for (const c of j.classes) {
      const tr = document.createElement('tr');
      tr.dataset.index = c.index;
      const sw = document.createElement('span');
      sw.className = 'swatch';
      const rgb = seg.palette[c.index] || [0, 0, 0];
      sw.style.background = 'rgb(' + rgb.join(',') + ')';
      const cells = [sw, c.label, String(c.pixels), (100 * c.fraction).toFixed(2) + '%'];
      cells.forEach((v, i) => {
        const td = document.createElement('td');
        if (i >= 2) td.className = 'num';
        td.append(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    $('seg').hidden = false;
  }

  // Each run has a number; only the latest one may show its answer, so a
  // slow answer for an image (or model) the user already left is dropped.
  let runs = 0;

  async function run(file) {
    const id = ++runs;
    document.body.dataset.run = String(id);
    clearResult();
    const m = current();
    if (!m || !file) {
      if (!m) showError('no model is ready');
      document.body.dataset.done = String(id);
      return;
    }
    const path = m.task === 'segment'
      ? '/segment?format=json&model=' + encodeURIComponent(m.name)
      : '/classify?model=' + encodeURIComponent(m.name);
    $('busy').hidden = false;
    try {
      const r = await api(path, {
        method: 'POST',
        headers: { 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
      });
      const answer = r.ok ? await r.json() : await errorText(r);
      if (id !== runs) return;
      if (!r.ok) {
        showError(answer);
        return;
      }
      showTiming(answer.timing_ms, answer.batch_size);
      $('result').hidden = false;
      if (m.task === 'segment') await showSegment(answer, file);
      else showClassify(answer);
    } catch (e) {
      if (id === runs) showError('request failed: ' + e.message);
    } finally {
      if (id === runs) {
        $('busy').hidden = true;
        document.body.dataset.done = String(id);
      }
    }
  }

  let lastFile = null;
  function take(file) {
    lastFile = file;
    run(file);
  }

  $('file').addEventListener('change', (ev) => take(ev.target.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer.files.length) take(ev.dataTransfer.files[0]);
  });
  $('model').addEventListener('change', () => { showTask(); if (lastFile) run(lastFile); });
  $('opacity').addEventListener('input', drawOverlay);
  $('apikey').addEventListener('change', (ev) => {
    sessionStorage.setItem(KEY, ev.target.value.trim());
    loadModels().then(() => { if (lastFile) run(lastFile); });
  });
  loadModels();
})();
