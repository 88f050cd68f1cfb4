//! Just enough XML to read valgrind's `--xml=yes` output: elements, text, CDATA and the five
//! predefined entities. Valgrind writes no attributes, so none are kept (a tag's name is its
//! first word). A truncated file (valgrind killed before the end) is an error, not a
//! shorter report.

#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    /// The element's own text (not its children's), entities decoded, untrimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child called `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// The document's root element.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut open = vec![Element::default()];
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        let (before, after) = rest.split_at(at);
        let top = open.last_mut().expect("the document is always open");
        top.text.push_str(&unescape(before));
        if let Some(body) = after.strip_prefix("<![CDATA[") {
            let end = body.find("]]>").ok_or("unterminated CDATA")?;
            top.text.push_str(&body[..end]);
            rest = &body[end + 3..];
            continue;
        }
        let skipped = [("<?", "?>"), ("<!--", "-->")];
        if let Some((_, end)) = skipped.iter().find(|(start, _)| after.starts_with(start)) {
            let close = after
                .find(end)
                .ok_or("unterminated declaration or comment")?;
            rest = &after[close + end.len()..];
            continue;
        }
        let close = after.find('>').ok_or("unterminated tag")?;
        let tag = &after[1..close];
        rest = &after[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let done = open
                .pop()
                .filter(|_| !open.is_empty())
                .ok_or("stray end tag")?;
            if done.name != name.trim() {
                return Err(format!("<{}> closed by </{}>", done.name, name.trim()));
            }
            open.last_mut().expect("checked").children.push(done);
        } else {
            let empty = tag.ends_with('/');
            let name = tag.trim_end_matches('/').split_whitespace().next();
            let element = Element {
                name: name.ok_or("empty tag")?.to_owned(),
                ..Element::default()
            };
            if empty {
                open.last_mut().expect("checked").children.push(element);
            } else {
                open.push(element);
            }
        }
    }
    if open.len() != 1 {
        let names: Vec<&str> = open[1..].iter().map(|e| e.name.as_str()).collect();
        return Err(format!("truncated: still open: {}", names.join(" > ")));
    }
    let mut document = open.pop().expect("checked");
    match document.children.len() {
        1 => Ok(document.children.remove(0)),
        n => Err(format!("{n} root elements")),
    }
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_valgrinds_shapes() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<valgrindoutput>\n<error>\n  <kind>Leak_DefinitelyLost</kind>\n  \
             <stack><frame><fn>drop&lt;T&gt;</fn></frame></stack>\n  \
             <suppression><rawtext>\n<![CDATA[\n{\n   <x>\n}\n]]>\n</rawtext></suppression>\n\
             </error>\n<!-- c -->\n</valgrindoutput>\n",
        )
        .unwrap();
        let error = doc.child("error").unwrap();
        assert_eq!(error.text_of("kind"), Some("Leak_DefinitelyLost"));
        let frame = error.child("stack").unwrap().child("frame").unwrap();
        assert_eq!(frame.text_of("fn"), Some("drop<T>"));
        let raw = error.child("suppression").unwrap().text_of("rawtext");
        assert_eq!(raw, Some("{\n   <x>\n}"));
    }

    #[test]
    fn a_truncated_file_is_an_error() {
        assert!(parse("<valgrindoutput><error><kind>x</kind>").is_err());
        assert!(parse("<a></b>").is_err());
    }
}
