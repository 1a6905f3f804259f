//! A user agent in words, as people read it in their sessions and activity: "Chrome 156 on
//! Linux". Parsed by woothee (Project Woothee's dataset), on the server only.

use woothee::parser::Parser;

const UNKNOWN: &str = "UNKNOWN";

/// "Chrome 156 on Linux", "Firefox 133 on Mac OSX", "Safari 18 on iPhone"; `None` when the
/// parser does not know the agent (a script's, Keywarden's own tasks'), so the raw string shows.
pub fn in_words(user_agent: &str) -> Option<String> {
    let parsed = Parser::new().parse(user_agent)?;
    if parsed.name == UNKNOWN {
        return None;
    }
    let major = parsed
        .version
        .split('.')
        .next()
        .filter(|major| !major.is_empty() && *major != UNKNOWN);
    let browser = match major {
        Some(major) => format!("{} {major}", parsed.name),
        None => parsed.name.to_owned(),
    };
    Some(match parsed.os {
        UNKNOWN => browser,
        os => format!("{browser} on {os}"),
    })
}

#[cfg(test)]
mod tests {
    use super::in_words;

    #[test]
    fn browsers_and_systems_read_as_words() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(in_words(chrome).as_deref(), Some("Chrome 156 on Linux"));
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 \
                       Firefox/133.0";
        assert_eq!(
            in_words(firefox).as_deref(),
            Some("Firefox 133 on Windows 10")
        );
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        assert_eq!(in_words(safari).as_deref(), Some("Safari 18 on iPhone"));
        assert_eq!(in_words("keywarden revalidation"), None);
        assert_eq!(in_words(""), None);
    }
}
