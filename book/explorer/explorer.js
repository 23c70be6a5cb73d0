/* The latent explorer: a trained VAE's decoder, run in the reader's page.
 *
 * Each <div class="latent-explorer" data-model="NAME"> (written by the
 * {latent-explorer} directive of _ext/latent_explorer.py) becomes a plane
 * of latent codes and the image the decoder makes of the chosen code. The
 * weights come from explorer/NAME.js, which the book build exports from
 * the shipped safetensors file, next to this script in _static: nothing is
 * fetched from elsewhere, and the page works offline and from file://.
 *
 * The decoder arrives as a list of layers (linear, relu, unflatten,
 * conv_transpose, flatten; PyTorch's layouts) ending in a sigmoid: the MLP
 * of vaecourse.models.VAE and the convolutional decoder of ConvVAE alike.
 * It runs here in double precision; a pixel is round(255 x). The browser
 * test (tests/test_browser.py) compares these pixels with PyTorch's.
 *
 * A model with a 2-D code gets the plane: the held-out digits' codes, and
 * a cross the reader drags. A larger code gets one slider per active unit
 * (the others stay at 0): a latent traversal.
 *
 * window.latentExplorers lists the explorers of the page; each has
 * setLatent(...values) (one value per plane axis or slider), latent() (the
 * whole code), pixels() and canvasPixels() (the 8-bit grey values drawn).
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
            size: raw.image_shape,
            layers: raw.layers.map((layer) => ({
              ...layer,
              w: layer.w ? floats(layer.w) : null,
              b: layer.b ? floats(layer.b) : null,
            })),
            units: raw.units,
            codes: raw.codes ? floats(raw.codes) : null,
            labels: raw.labels || null,
            extent: raw.extent,
          });
        };
        tag.onerror = () => reject(new Error("could not load " + tag.src));
        document.head.appendChild(tag);
      });
    }
    return loading[name];
  }

  function linear(layer, x) {
    const y = new Float64Array(layer.out);
    for (let o = 0; o < layer.out; o++) {
      let sum = layer.b[o];
      const row = o * layer.in;
      for (let i = 0; i < layer.in; i++) sum += layer.w[row + i] * x[i];
      y[o] = sum;
    }
    return y;
  }

  function convTranspose(layer, x, [channels, height, width]) {
    // PyTorch's ConvTranspose2d: weight (in, out, k, k); input pixel
    // (i, j) adds to output (i s - p + a, j s - p + b).
    const { kernel: k, stride: s, padding: p } = layer;
    const outHeight = (height - 1) * s - 2 * p + k;
    const outWidth = (width - 1) * s - 2 * p + k;
    const plane = outHeight * outWidth;
    const y = new Float64Array(layer.out * plane);
    for (let o = 0; o < layer.out; o++) y.fill(layer.b[o], o * plane, (o + 1) * plane);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < height; i++) {
        for (let j = 0; j < width; j++) {
          const v = x[(c * height + i) * width + j];
          if (v === 0) continue;
          for (let o = 0; o < layer.out; o++) {
            const w = ((c * layer.out + o) * k) * k;
            for (let a = 0; a < k; a++) {
              const row = i * s - p + a;
              if (row < 0 || row >= outHeight) continue;
              for (let b = 0; b < k; b++) {
                const col = j * s - p + b;
                if (col < 0 || col >= outWidth) continue;
                y[o * plane + row * outWidth + col] += v * layer.w[w + a * k + b];
              }
            }
          }
        }
      }
    }
    return [y, [layer.out, outHeight, outWidth]];
  }

  function decode(m, z) {
    let x = Float64Array.from(z);
    let shape = [x.length];
    for (const layer of m.layers) {
      if (layer.type === "linear") {
        x = linear(layer, x);
        shape = [x.length];
      } else if (layer.type === "relu") {
        x = x.map((v) => (v > 0 ? v : 0));
      } else if (layer.type === "unflatten") {
        shape = layer.shape;
      } else if (layer.type === "flatten") {
        shape = [x.length];
      } else if (layer.type === "conv_transpose") {
        [x, shape] = convTranspose(layer, x, shape);
      } else {
        throw new Error("unknown layer " + layer.type);
      }
    }
    const out = new Uint8ClampedArray(x.length);
    for (let k = 0; k < x.length; k++) {
      out[k] = Math.round(255 / (1 + Math.exp(-x[k])));
    }
    return out;
  }

  function imageCanvas(m) {
    const image = document.createElement("canvas");
    image.className = "latent-explorer-image";
    image.setAttribute("role", "img");
    image.width = m.size[1];
    image.height = m.size[0];
    return image;
  }

  function build(root, m) {
    root.textContent = "";
    const image = imageCanvas(m);
    const caption = document.createElement("p");
    caption.className = "latent-explorer-caption";
    const panels = document.createElement("div");
    panels.className = "latent-explorer-panels";
    const [low, high] = m.extent;
    const clamp = (v) => Math.min(high, Math.max(low, v));
    const axes = m.latent === 2 ? [0, 1] : m.units;
    const code = new Array(m.latent).fill(0);
    let drawn = new Uint8ClampedArray(0);
    let redrawControls = () => {};

    function drawImage() {
      drawn = decode(m, code);
      const pixels = new ImageData(m.size[1], m.size[0]);
      for (let k = 0; k < drawn.length; k++) {
        pixels.data.set([drawn[k], drawn[k], drawn[k], 255], 4 * k);
      }
      image.getContext("2d").putImageData(pixels, 0, 0);
      const text = axes
        .map((unit) => `z${unit + 1} = ${code[unit].toFixed(2)}`)
        .join(", ");
      caption.textContent = text;
      image.setAttribute("aria-label", "the decoded image at " + text);
    }

    function setLatent(...values) {
      axes.forEach((unit, k) => {
        if (values[k] !== undefined) code[unit] = clamp(values[k]);
      });
      redrawControls();
      drawImage();
    }

    if (m.latent === 2) {
      redrawControls = plane(m, panels, code, setLatent);
    } else {
      redrawControls = sliders(m, panels, code, setLatent);
    }
    panels.append(image);
    root.append(panels);
    if (m.latent === 2) root.append(legend());
    root.append(caption);
    setLatent(...axes.map(() => 0));

    const explorer = {
      root,
      model: root.dataset.model,
      setLatent,
      latent: () => code.slice(),
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

  function legend() {
    const keys = document.createElement("p");
    keys.className = "latent-explorer-legend";
    keys.setAttribute("aria-label", "the colour of each digit's dots");
    for (let digit = 0; digit < 10; digit++) {
      const key = document.createElement("span");
      key.style.setProperty("--digit-colour", TAB10[digit]);
      key.textContent = String(digit);
      keys.append(key);
    }
    return keys;
  }

  function sliders(m, panels, code, setLatent) {
    const box = document.createElement("div");
    box.className = "latent-explorer-sliders";
    const inputs = m.units.map((unit, k) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "range";
      input.min = String(m.extent[0]);
      input.max = String(m.extent[1]);
      input.step = "0.05";
      input.value = "0";
      input.addEventListener("input", () => {
        const values = m.units.map(() => undefined);
        values[k] = Number(input.value);
        setLatent(...values);
      });
      label.append(`z${unit + 1} `, input);
      box.append(label);
      return input;
    });
    panels.append(box);
    return () => {
      m.units.forEach((unit, k) => { inputs[k].value = String(code[unit]); });
    };
  }

  function plane(m, panels, code, setLatent) {
    const canvas = document.createElement("canvas");
    canvas.className = "latent-explorer-plane";
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "slider");
    canvas.setAttribute(
      "aria-label",
      "latent code: drag, tap or use the arrow keys to move it"
    );
    const ratio = window.devicePixelRatio || 1;
    canvas.width = PLANE_PX * ratio;
    canvas.height = PLANE_PX * ratio;
    panels.append(canvas);
    const [low, high] = m.extent;
    const toPx = (v) => ((v - low) / (high - low)) * PLANE_PX;
    const toZ = (px) => low + (px / PLANE_PX) * (high - low);

    function draw() {
      const g = canvas.getContext("2d");
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
      const x = toPx(code[0]);
      const y = PLANE_PX - toPx(code[1]);
      g.strokeStyle = "#000000";
      g.lineWidth = 2;
      g.beginPath();
      g.arc(x, y, 7, 0, 2 * Math.PI);
      g.moveTo(x - 11, y);
      g.lineTo(x + 11, y);
      g.moveTo(x, y - 11);
      g.lineTo(x, y + 11);
      g.stroke();
      canvas.setAttribute(
        "aria-valuetext",
        `z = (${code[0].toFixed(2)}, ${code[1].toFixed(2)})`
      );
    }

    function fromPointer(event) {
      const box = canvas.getBoundingClientRect();
      const x = ((event.clientX - box.left) / box.width) * PLANE_PX;
      const y = ((event.clientY - box.top) / box.height) * PLANE_PX;
      setLatent(toZ(x), toZ(PLANE_PX - y));
    }

    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      fromPointer(event);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (canvas.hasPointerCapture(event.pointerId)) fromPointer(event);
    });
    canvas.addEventListener("keydown", (event) => {
      const step = (high - low) / 60;
      const moves = {
        ArrowLeft: [-step, 0], ArrowRight: [step, 0],
        ArrowUp: [0, step], ArrowDown: [0, -step],
      };
      if (moves[event.key]) {
        const [dx, dy] = moves[event.key];
        setLatent(code[0] + dx, code[1] + dy);
        event.preventDefault();
      }
    });
    return draw;
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
