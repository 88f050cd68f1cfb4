#!/usr/bin/python3
"""The smallest GTK 4 application: one window with a label, then the main loop, idle."""
import gi

gi.require_version("Gtk", "4.0")
from gi.repository import Gtk  # noqa: E402


def activate(app):
    window = Gtk.ApplicationWindow(application=app, title="lifesign compat: GTK 4")
    window.set_child(Gtk.Label(label="GTK 4"))
    window.present()


# NON_UNIQUE: no D-Bus name, so two instances on one display are two applications.
app = Gtk.Application(application_id="org.lifesign.CompatGtk4",
                      flags=gi.repository.Gio.ApplicationFlags.NON_UNIQUE)
app.connect("activate", activate)
app.run(None)
