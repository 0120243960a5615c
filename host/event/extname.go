package event

// ExtensionNameOf returns the extension attribute name that a header (of
// HTTP or NATS) becomes when a source copies it into an event:
// lower-cased, with every character but a-z and 0-9 dropped, so
// "X-GitHub-Hook-ID" becomes "xgithubhookid". It may be empty, or a name
// ValidExtensionName refuses (a core attribute): the caller checks.
func ExtensionNameOf(header string) string {
	b := make([]byte, 0, len(header))
	for i := 0; i < len(header); i++ {
		c := header[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

// OwnedExtension reports whether name is an extension that evhost sets
// itself on every event (depth, correlationid, causationid): a source must
// not take it from a producer's headers.
func OwnedExtension(name string) bool {
	return name == ExtDepth || name == ExtCorrelationID || name == ExtCausationID
}
