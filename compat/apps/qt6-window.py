#!/usr/bin/python3
"""The smallest Qt 6 application (PyQt6): one window with a label, then the event loop, idle."""
import sys

from PyQt6.QtWidgets import QApplication, QLabel

app = QApplication(sys.argv)
label = QLabel("Qt 6")
label.setWindowTitle("lifesign compat: Qt 6")
label.show()
sys.exit(app.exec())
