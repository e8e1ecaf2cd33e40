// Translation helpers. The Django JavaScript catalog (/jsi18n/, a classic script loaded before
// the modules) defines gettext(), ngettext() and interpolate() as globals; this module re-exports
// them so every other module imports them explicitly (and `makemessages -d djangojs` finds them).

const catalog = globalThis;

export const gettext = catalog.gettext ?? ((text) => text);
export const ngettext =
  catalog.ngettext ?? ((singular, plural, count) => (count === 1 ? singular : plural));
export const interpolate =
  catalog.interpolate ??
  ((format, values, named) =>
    named
      ? format.replace(/%\(\w+\)s/g, (match) => String(values[match.slice(2, -2)]))
      : format.replace(/%s/g, () => String(values.shift())));

/** The page language (BCP 47), for Intl formatters. */
export const language = document.documentElement.lang || "en";
