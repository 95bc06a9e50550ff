"""The words of a situation report in German (default) and English.

One table, looked up by key; a missing key is a programming error (KeyError), never a silently
English word in a German report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, TypeAlias

Lang: TypeAlias = Literal["de", "en"]
LANGS: Final = ("de", "en")

_WORDS: Final[dict[str, tuple[str, str]]] = {
    "title": ("Lagebericht", "Situation report"),
    "subtitle": (
        "Lagezentrum Bevölkerungsschutz Rheinland-Pfalz",
        "Civil protection situation centre Rhineland-Palatinate",
    ),
    "number": ("Berichtsnummer", "Report number"),
    "version": ("Version", "Version"),
    "period": ("Berichtszeitraum", "Time period"),
    "as_of": ("Stand", "As of"),
    "prepared_by": ("Erstellt von", "Prepared by"),
    "generated": ("Erzeugt", "Generated"),
    "classification": ("Einstufung", "Classification"),
    "region": ("Gebiet", "Region"),
    "whole_state": ("Rheinland-Pfalz (alle Kreise)", "Rhineland-Palatinate (all districts)"),
    "summary": ("Gesamtlage", "Overall situation"),
    "districts": ("Lage in den Kreisen", "Districts"),
    "warnings": ("Aktive Warnungen", "Active warnings"),
    "incidents": ("Einsätze", "Incidents"),
    "timeline": (
        "Wesentliche Veränderungen im Berichtszeitraum",
        "Significant changes in the period",
    ),
    "journal": ("Einsatztagebuch", "Operator journal"),
    "map": ("Lagekarte", "Situation map"),
    "interactive_map": ("Interaktive Karte", "Interactive map"),
    "chart": ("Offene Einsätze im Berichtszeitraum", "Open incidents over the period"),
    "page": ("Seite", "Page"),
    "none": ("keine", "none"),
    # figures
    "incidents_total": ("Einsätze im Lagebild", "Incidents in the picture"),
    "open": ("offen", "open"),
    "resolved": ("erledigt", "resolved"),
    "resolved_incidents": ("Erledigte Einsätze", "Resolved incidents"),
    "open_incidents": ("Offene Einsätze", "Open incidents"),
    "dead": ("Tote", "Dead"),
    "injured": ("Verletzte", "Injured"),
    "missing": ("Vermisste", "Missing"),
    "evacuated": ("Evakuierte", "Evacuated"),
    "affected": ("Betroffene", "Affected"),
    "icu_beds_free": ("Freie ITS-Betten", "ICU beds free"),
    "beds_free": ("Freie Betten", "Beds free"),
    "max_level": ("Höchste Stufe", "Highest level"),
    "elevated_districts": ("Kreise mit Stufe ≥ 1", "Districts at level ≥ 1"),
    "active_warnings": ("Aktive Warnungen", "Active warnings"),
    # columns
    "col_ags": ("AGS", "AGS"),
    "col_district": ("Kreis", "District"),
    "col_level": ("Stufe", "Level"),
    "col_id": ("Kennung", "ID"),
    "col_status": ("Status", "Status"),
    "col_severity": ("Schwere", "Severity"),
    "col_category": ("Art", "Category"),
    "col_title": ("Bezeichnung", "Title"),
    "col_agencies": ("Beteiligte Stellen", "Agencies"),
    "col_first_seen": ("Beginn", "First seen"),
    "col_last_seen": ("Letzte Meldung", "Last report"),
    "col_headline": ("Meldung", "Headline"),
    "col_onset": ("Beginn", "Onset"),
    "col_expires": ("Ende", "Expires"),
    "col_districts": ("Kreise", "Districts"),
    "col_time": ("Zeit", "Time"),
    "col_event": ("Ereignis", "Event"),
    "col_author": ("Von", "By"),
    "col_entry": ("Eintrag", "Entry"),
    "col_casualties": ("Tote/Verl./Verm.", "Dead/inj./miss."),
    "col_extreme": ("extrem", "extreme"),
    "col_severe": ("schwer", "severe"),
    "col_moderate": ("mittel", "moderate"),
    "col_minor": ("gering", "minor"),
    "col_unknown": ("unbek.", "unknown"),
    "col_open": ("offen", "open"),
    "col_warnings": ("Warn.", "Warn."),
    "col_icu": ("ITS frei", "ICU free"),
    "col_beds": ("Betten frei", "Beds free"),
    "total": ("Summe", "Total"),
    # severities, statuses, levels
    "extreme": ("extrem", "extreme"),
    "severe": ("schwer", "severe"),
    "moderate": ("mittel", "moderate"),
    "minor": ("gering", "minor"),
    "unknown": ("unbekannt", "unknown"),
    "status_open": ("offen", "open"),
    "status_resolved": ("erledigt", "resolved"),
    "status_active": ("aktiv", "active"),
    "status_pending": ("angekündigt", "pending"),
    "level_0": ("Normal", "Normal"),
    "level_1": ("Erhöhte Lage", "Elevated"),
    "level_2": ("Großschadenslage", "Major incident"),
    "level_3": ("Katastrophenfall", "Disaster"),
    # timeline
    "ev_level": ("Stufe {old} → {new}: {name}", "Level {old} → {new}: {name}"),
    "ev_incident": ("Neuer Einsatz ({severity}): {title}", "New incident ({severity}): {title}"),
    "ev_escalated": (
        "Einsatz hochgestuft ({severity}): {title}",
        "Incident escalated ({severity}): {title}",
    ),
    "ev_warning": ("Warnung ({severity}): {headline}", "Warning ({severity}): {headline}"),
    "ev_resolved": ("Einsatz von Hand erledigt: {title}", "Incident resolved by operator: {title}"),
    "ev_reopened": ("Einsatz wieder eröffnet: {title}", "Incident reopened: {title}"),
    "operator": ("Lagedienst", "Operator"),
    "casualty_note": (
        "Personenzahlen: Summe über alle Einsätze im Lagebild (offen und erledigt).",
        "Casualty figures: sums over all incidents in the picture (open and resolved).",
    ),
    "unclassified": ("OFFEN", "UNCLASSIFIED"),
    "outside": ("außerhalb", "outside"),
    "more_rows": ("… {count} weitere Zeilen", "… {count} more rows"),
}


def word(key: str, lang: Lang) -> str:
    de, en = _WORDS[key]
    return de if lang == "de" else en


def level_name(level: int, lang: Lang) -> str:
    return word(f"level_{max(0, min(level, 3))}", lang)


def status_name(status: str, lang: Lang) -> str:
    key = f"status_{status}"
    return word(key, lang) if key in _WORDS else status


def severity_name(severity: str, lang: Lang) -> str:
    return word(severity, lang) if severity in _WORDS else severity


def when(value: datetime, lang: Lang) -> str:
    """A time as printed in the report (UTC, both languages say so)."""
    if lang == "de":
        return value.strftime("%d.%m.%Y %H:%M UTC")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def short_time(value: datetime, lang: Lang) -> str:
    return value.strftime("%d.%m. %H:%M" if lang == "de" else "%m-%d %H:%M")
