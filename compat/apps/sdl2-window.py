#!/usr/bin/python3
"""The smallest SDL2 application (PySDL2): one window, then an event loop that waits, idle."""
import ctypes

import sdl2

sdl2.SDL_Init(sdl2.SDL_INIT_VIDEO)
window = sdl2.SDL_CreateWindow(b"lifesign compat: SDL2", sdl2.SDL_WINDOWPOS_UNDEFINED,
                               sdl2.SDL_WINDOWPOS_UNDEFINED, 200, 100, sdl2.SDL_WINDOW_SHOWN)
event = sdl2.SDL_Event()
while sdl2.SDL_WaitEvent(ctypes.byref(event)):
    if event.type == sdl2.SDL_QUIT:
        break
sdl2.SDL_DestroyWindow(window)
sdl2.SDL_Quit()
