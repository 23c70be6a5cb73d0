/* The latent explorer: a trained VAE's decoder, run in the reader's page.
 *
 * Each <div class="latent-explorer" data-model="NAME"> (written by the
 * {latent-explorer} directive of _ext/latent_explorer.py) becomes a plane
 * of latent codes and the image the decoder makes of the chosen code. The
 * weights come from explorer/NAME.js, which the book build exports from
 * the shipped safetensors file, next to this script in _static: nothing is
 * fetched from elsewhere, and the page works offline and from file://.
 *
 * The decoder is the course's MLP (vaecourse.models.VAE):
 *   h = relu(W1 z + b1),  x = sigmoid(W2 h + b2),
 * computed here in double precision; a pixel is round(255 x). The browser
 * test (tests/test_browser.py) compares these pixels with PyTorch's.
 *
 * window.latentExplorers lists the explorers of the page; each has
 * setLatent(z1, z2), latent() and pixels() (the 8-bit grey values drawn).
 */
(function () {
  "use strict";

  const here = document.currentScript ? document.currentScript.src : "";
  const base = here.replace(/[^/]*$/, "") + "explorer/";
  // matplotlib's tab10: the colours of the book's latent scatter plots.
  const TAB10 = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ];
  const PLANE_PX = 300;
  const loading = {};
  window.latentExplorers = window.latentExplorers || [];
  window.VAE_MODELS = window.VAE_MODELS || {};

  function floats(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  function loadModel(name) {
    if (!loading[name]) {
      loading[name] = new Promise((resolve, reject) => {
        const tag = document.createElement("script");
        tag.src = base + name + ".js";
        tag.onload = () => {
          const raw = window.VAE_MODELS[name];
          if (!raw) {
            reject(new Error("no model " + name + " in " + tag.src));
            return;
          }
          resolve({
            latent: raw.latent_dim,
            hidden: raw.hidden_dim,
            size: raw.image_shape,
            w1: floats(raw.w1), b1: floats(raw.b1),
            w2: floats(raw.w2), b2: floats(raw.b2),
            codes: floats(raw.codes), labels: raw.labels,
            extent: raw.extent,
          });
        };
        tag.onerror = () => reject(new Error("could not load " + tag.src));
        document.head.appendChild(tag);
      });
    }
    return loading[name];
  }

  function decode(m, z) {
    const h = new Float64Array(m.hidden);
    for (let i = 0; i < m.hidden; i++) {
      let s = m.b1[i];
      for (let j = 0; j < m.latent; j++) s += m.w1[i * m.latent + j] * z[j];
      h[i] = s > 0 ? s : 0;
    }
    const n = m.size[0] * m.size[1];
    const out = new Uint8ClampedArray(n);
    for (let k = 0; k < n; k++) {
      let s = m.b2[k];
      const row = k * m.hidden;
      for (let i = 0; i < m.hidden; i++) s += m.w2[row + i] * h[i];
      out[k] = Math.round(255 / (1 + Math.exp(-s)));
    }
    return out;
  }

  function build(root, m) {
    root.textContent = "";
    const plane = document.createElement("canvas");
    const image = document.createElement("canvas");
    const caption = document.createElement("p");
    plane.className = "latent-explorer-plane";
    image.className = "latent-explorer-image";
    caption.className = "latent-explorer-caption";
    plane.tabIndex = 0;
    plane.setAttribute("role", "slider");
    plane.setAttribute(
      "aria-label",
      "latent code: drag, tap or use the arrow keys to move it"
    );
    image.setAttribute("role", "img");
    image.width = m.size[1];
    image.height = m.size[0];
    const ratio = window.devicePixelRatio || 1;
    plane.width = PLANE_PX * ratio;
    plane.height = PLANE_PX * ratio;
    const panels = document.createElement("div");
    panels.className = "latent-explorer-panels";
    panels.append(plane, image);
    const legend = document.createElement("p");
    legend.className = "latent-explorer-legend";
    legend.setAttribute("aria-label", "the colour of each digit's dots");
    for (let digit = 0; digit < 10; digit++) {
      const key = document.createElement("span");
      key.style.setProperty("--digit-colour", TAB10[digit]);
      key.textContent = String(digit);
      legend.append(key);
    }
    root.append(panels, legend, caption);

    const [low, high] = m.extent;
    const toPx = (v) => ((v - low) / (high - low)) * PLANE_PX;
    const toZ = (px) => low + (px / PLANE_PX) * (high - low);
    let z = [0, 0];
    let drawn = new Uint8ClampedArray(0);

    function drawPlane() {
      const g = plane.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.fillStyle = "#ffffff";
      g.fillRect(0, 0, PLANE_PX, PLANE_PX);
      g.strokeStyle = "#bbbbbb";
      g.lineWidth = 1;
      for (const r of [1, 2]) { // the prior's 1 and 2 standard deviations
        g.beginPath();
        g.arc(toPx(0), PLANE_PX - toPx(0), toPx(r) - toPx(0), 0, 2 * Math.PI);
        g.stroke();
      }
      for (let i = 0; i < m.labels.length; i++) {
        g.fillStyle = TAB10[m.labels[i] % 10];
        const x = toPx(m.codes[2 * i]);
        const y = PLANE_PX - toPx(m.codes[2 * i + 1]);
        g.fillRect(x - 1.5, y - 1.5, 3, 3);
      }
      const x = toPx(z[0]);
      const y = PLANE_PX - toPx(z[1]);
      g.strokeStyle = "#000000";
      g.lineWidth = 2;
      g.beginPath();
      g.arc(x, y, 7, 0, 2 * Math.PI);
      g.moveTo(x - 11, y);
      g.lineTo(x + 11, y);
      g.moveTo(x, y - 11);
      g.lineTo(x, y + 11);
      g.stroke();
    }

    function drawImage() {
      drawn = decode(m, z);
      const pixels = new ImageData(m.size[1], m.size[0]);
      for (let k = 0; k < drawn.length; k++) {
        pixels.data.set([drawn[k], drawn[k], drawn[k], 255], 4 * k);
      }
      image.getContext("2d").putImageData(pixels, 0, 0);
      const text = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
      caption.textContent = text;
      image.setAttribute("aria-label", "the decoded image at " + text);
      plane.setAttribute("aria-valuetext", text);
    }

    function setLatent(z1, z2) {
      const clamp = (v) => Math.min(high, Math.max(low, v));
      z = [clamp(z1), clamp(z2)];
      drawPlane();
      drawImage();
    }

    function fromPointer(event) {
      const box = plane.getBoundingClientRect();
      const x = ((event.clientX - box.left) / box.width) * PLANE_PX;
      const y = ((event.clientY - box.top) / box.height) * PLANE_PX;
      setLatent(toZ(x), toZ(PLANE_PX - y));
    }

    plane.addEventListener("pointerdown", (event) => {
      plane.setPointerCapture(event.pointerId);
      fromPointer(event);
      event.preventDefault();
    });
    plane.addEventListener("pointermove", (event) => {
      if (plane.hasPointerCapture(event.pointerId)) fromPointer(event);
    });
    plane.addEventListener("keydown", (event) => {
      const step = (high - low) / 60;
      const moves = {
        ArrowLeft: [-step, 0], ArrowRight: [step, 0],
        ArrowUp: [0, step], ArrowDown: [0, -step],
      };
      if (moves[event.key]) {
        setLatent(z[0] + moves[event.key][0], z[1] + moves[event.key][1]);
        event.preventDefault();
      }
    });

    setLatent(0, 0);
    const explorer = {
      root,
      model: root.dataset.model,
      setLatent,
      latent: () => z.slice(),
      pixels: () => Array.from(drawn),
      canvasPixels: () => {
        const data = image.getContext("2d")
          .getImageData(0, 0, image.width, image.height).data;
        return Array.from({ length: data.length / 4 }, (_, k) => data[4 * k]);
      },
    };
    window.latentExplorers.push(explorer);
    root.dataset.ready = "true";
    return explorer;
  }

  function start() {
    for (const root of document.querySelectorAll(".latent-explorer")) {
      loadModel(root.dataset.model).then(
        (m) => build(root, m),
        (error) => {
          root.dataset.ready = "error";
          console.error(error);
        }
      );
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
