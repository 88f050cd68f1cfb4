#!/usr/bin/python3
"""The smallest wxWidgets application (wxPython, the GTK 3 port): one frame, then the main loop, idle."""
import wx

app = wx.App(False)
frame = wx.Frame(None, title="lifesign compat: wxWidgets")
wx.StaticText(frame, label="wxWidgets")
frame.Show()
app.MainLoop()
