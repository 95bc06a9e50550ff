// "Lagefilm": the picture at any time of the last 24 hours from the history API, and playback.
// While a past picture is shown, live changes keep arriving into the live picture but are not
// drawn; "Live" returns to it.
import { $ } from "./dom.js";
import { api } from "./auth.js";
import { formatTime, t } from "./i18n.js";
import { Picture } from "./store.js";

const RANGE_MINUTES = 24 * 60;
const PLAY_STEP_MINUTES = 10;
const PLAY_INTERVAL_MS = 700;

export class Film {
  constructor({ onShow, onLive }) {
    this.onShow = onShow;
    this.onLive = onLive;
    this.range = $("film-range");
    this.range.max = String(RANGE_MINUTES);
    this.range.value = String(RANGE_MINUTES);
    this.origin = Date.now() - RANGE_MINUTES * 60_000;
    this.live = true;
    this.playing = null;
    this.request = 0;
    this.range.addEventListener("input", () => this.seek(Number(this.range.value)));
    $("film-play").addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    $("film-live").addEventListener("click", () => this.goLive());
    this.label();
  }

  /** Keep the slider's end at "now" while live. */
  tick() {
    if (this.live) {
      this.origin = Date.now() - RANGE_MINUTES * 60_000;
      this.label();
    }
  }

  timeOf(minutes) {
    return new Date(this.origin + minutes * 60_000);
  }

  label() {
    const minutes = Number(this.range.value);
    $("film-time").textContent = this.live ? t("film.live") : formatTime(this.timeOf(minutes).toISOString(), true);
    $("film-play").textContent = this.playing ? t("film.pause") : t("film.play");
    $("film-live").textContent = t("film.live");
    $("film-live").setAttribute("aria-pressed", String(this.live));
    const banner = $("history-banner");
    banner.hidden = this.live;
    if (!this.live) banner.textContent = t("film.banner", { time: formatTime(this.timeOf(minutes).toISOString(), true) });
  }

  async seek(minutes) {
    if (minutes >= RANGE_MINUTES) {
      this.goLive();
      return;
    }
    this.live = false;
    this.range.value = String(minutes);
    this.label();
    const token = ++this.request;
    const at = this.timeOf(minutes).toISOString();
    try {
      const response = await api(`/api/v1/situation?at=${encodeURIComponent(at)}`);
      if (!response.ok || token !== this.request || this.live) return;
      const picture = new Picture(await response.json());
      if (token !== this.request || this.live) return;
      this.onShow(picture, at);
    } catch {
      // the next seek or play step tries again
    }
  }

  /** Show the picture at an absolute time (ISO string); used by tests and deep links. */
  showAt(iso) {
    const minutes = Math.round((Date.parse(iso) - this.origin) / 60_000);
    return this.seek(Math.max(0, Math.min(RANGE_MINUTES - 1, minutes)));
  }

  play() {
    if (this.live) this.range.value = "0";
    const step = async () => {
      const next = Number(this.range.value) + PLAY_STEP_MINUTES;
      if (next >= RANGE_MINUTES) {
        this.goLive();
        return;
      }
      await this.seek(next);
      if (this.playing) this.playing = setTimeout(step, PLAY_INTERVAL_MS);
    };
    this.playing = setTimeout(step, 0);
    this.label();
  }

  pause() {
    if (this.playing) clearTimeout(this.playing);
    this.playing = null;
    this.label();
  }

  goLive() {
    this.pause();
    this.request += 1;
    this.live = true;
    this.range.value = String(RANGE_MINUTES);
    this.label();
    this.onLive();
  }
}
