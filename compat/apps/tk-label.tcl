# The smallest Tk application: one label in the main window, then the event loop, idle.
wm title . "lifesign compat: Tk"
pack [label .l -text Tk]
