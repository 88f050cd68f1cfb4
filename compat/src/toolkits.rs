//! The table's rows: which program stands for which toolkit, and the Debian packages whose
//! versions the table names. A real application where Debian has a small one; otherwise the
//! smallest program for the toolkit (`compat/apps/`), run with Debian's bindings.
//!
//! scripts/compat.sh installs the packages these need: keep its list in step.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a toolkit's program is started.
#[derive(Clone, Copy, Debug)]
pub enum Launch {
    /// A program and its arguments, as installed by Debian.
    Program(&'static [&'static str]),
    /// A script of `compat/apps/` run by Debian's Python 3 (not whichever `python3` is first
    /// on the PATH: the bindings are Debian's).
    Python(&'static str),
    /// A Tcl script of `compat/apps/` run by `wish`.
    Tk(&'static str),
    /// A class compiled from `compat/apps/<name>.java` ([`Context::prepare`]), run by Java.
    Java(&'static str),
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Toolkit {
    pub name: &'static str,
    /// The packages whose installed versions the table names: the toolkit's library first
    /// (or the package that carries it), then the program's.
    pub packages: &'static [&'static str],
    /// The program, as the table names it.
    pub app: &'static str,
    pub launch: Launch,
}

pub const TOOLKITS: &[Toolkit] = &[
    Toolkit {
        name: "GTK 3",
        packages: &["libgtk-3-0", "zenity"],
        app: "zenity --info",
        launch: Launch::Program(&["zenity", "--info", "--text", "lifesign compat"]),
    },
    Toolkit {
        name: "GTK 4",
        packages: &["libgtk-4-1", "gir1.2-gtk-4.0", "python3-gi"],
        app: "compat/apps/gtk4-window.py (PyGObject)",
        launch: Launch::Python("gtk4-window.py"),
    },
    Toolkit {
        name: "Qt 5",
        packages: &["libqt5gui5", "featherpad"],
        app: "featherpad --standalone",
        launch: Launch::Program(&["featherpad", "--standalone"]),
    },
    Toolkit {
        name: "Qt 6",
        packages: &["libqt6gui6", "python3-pyqt6"],
        app: "compat/apps/qt6-window.py (PyQt6)",
        launch: Launch::Python("qt6-window.py"),
    },
    Toolkit {
        name: "Tk",
        packages: &["libtk8.6", "tk8.6"],
        app: "wish compat/apps/tk-label.tcl",
        launch: Launch::Tk("tk-label.tcl"),
    },
    Toolkit {
        name: "Motif",
        packages: &["libxm4", "nedit"],
        app: "nedit",
        launch: Launch::Program(&["nedit"]),
    },
    Toolkit {
        name: "Athena (Xt)",
        packages: &["libxaw7", "x11-apps"],
        app: "xlogo",
        launch: Launch::Program(&["xlogo"]),
    },
    Toolkit {
        name: "Athena (Xt) redrawing every second",
        packages: &["libxaw7", "x11-apps"],
        app: "xclock -update 1",
        launch: Launch::Program(&["xclock", "-update", "1"]),
    },
    Toolkit {
        name: "xterm (Xt)",
        packages: &["libxt6", "xterm"],
        app: "xterm",
        launch: Launch::Program(&["xterm"]),
    },
    Toolkit {
        name: "Java AWT/Swing",
        packages: &["openjdk-17-jre"],
        app: "compat/apps/Swing.java (a JFrame)",
        launch: Launch::Java("Swing"),
    },
    Toolkit {
        name: "FLTK",
        packages: &["fltk1.3-games"],
        app: "flsudoku (FLTK 1.3 linked in)",
        launch: Launch::Program(&["/usr/games/flsudoku"]),
    },
    Toolkit {
        name: "wxWidgets (GTK 3 port)",
        packages: &["libwxgtk3.2-1", "python3-wxgtk4.0"],
        app: "compat/apps/wx-frame.py (wxPython)",
        launch: Launch::Python("wx-frame.py"),
    },
    Toolkit {
        name: "SDL2",
        packages: &["libsdl2-2.0-0", "python3-sdl2"],
        app: "compat/apps/sdl2-window.py (PySDL2)",
        launch: Launch::Python("sdl2-window.py"),
    },
    Toolkit {
        name: "EFL",
        packages: &["libelementary1", "terminology"],
        app: "terminology",
        launch: Launch::Program(&["terminology"]),
    },
    Toolkit {
        name: "GNUstep",
        packages: &["libgnustep-gui0.29", "gnustep-examples"],
        app: "Calculator",
        launch: Launch::Program(&["Calculator"]),
    },
];

/// The toolkit named `name` (case does not count).
pub fn find(name: &str) -> Option<&'static Toolkit> {
    TOOLKITS.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// Where the programs of `compat/apps/` are, and where their compiled classes go.
#[derive(Clone, Debug)]
pub struct Context {
    pub apps: PathBuf,
    pub classes: PathBuf,
}

impl Context {
    /// `compat/apps/` of this source tree; classes under `target/compat/classes`.
    pub fn in_tree() -> Self {
        Self {
            apps: Path::new(env!("CARGO_MANIFEST_DIR")).join("apps"),
            classes: lifesign_tests::server::target_dir().join("compat/classes"),
        }
    }

    /// Compiles what `toolkits` need compiled (the Java classes, with Debian's `javac`).
    pub fn prepare(&self, toolkits: &[&Toolkit]) -> Result<(), String> {
        for toolkit in toolkits {
            if let Launch::Java(class) = toolkit.launch {
                std::fs::create_dir_all(&self.classes).map_err(|e| e.to_string())?;
                let source = self.apps.join(format!("{class}.java"));
                let status = Command::new("javac")
                    .arg("-d")
                    .arg(&self.classes)
                    .arg(&source)
                    .status()
                    .map_err(|e| format!("cannot run javac (openjdk-17-jdk-headless): {e}"))?;
                if !status.success() {
                    return Err(format!("javac {} failed: {status}", source.display()));
                }
            }
        }
        Ok(())
    }

    /// The command that starts `launch`; the caller adds the display.
    pub fn command(&self, launch: &Launch) -> Command {
        match *launch {
            Launch::Program(argv) => {
                let mut c = Command::new(argv[0]);
                c.args(&argv[1..]);
                c
            }
            Launch::Python(script) => {
                let mut c = Command::new("/usr/bin/python3");
                c.arg(self.apps.join(script));
                c
            }
            Launch::Tk(script) => {
                let mut c = Command::new("wish");
                c.arg(self.apps.join(script));
                c
            }
            Launch::Java(class) => {
                let mut c = Command::new("java");
                c.arg("-cp").arg(&self.classes).arg(class);
                c
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_script_exists() {
        let context = Context::in_tree();
        for (i, t) in TOOLKITS.iter().enumerate() {
            assert!(
                TOOLKITS[..i]
                    .iter()
                    .all(|u| !u.name.eq_ignore_ascii_case(t.name)),
                "{} twice",
                t.name
            );
            let file = match t.launch {
                Launch::Program(_) => continue,
                Launch::Python(s) | Launch::Tk(s) => s.to_owned(),
                Launch::Java(class) => format!("{class}.java"),
            };
            assert!(
                context.apps.join(&file).is_file(),
                "{}: {file} is missing",
                t.name
            );
        }
    }
}
