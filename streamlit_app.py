"""Entry point: the router only. Pages live in pages/ (each draws its frame: ui.nav.frame), helpers in ui/."""

from ui import nav

nav.route()
