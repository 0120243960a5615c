package host

// BrokerURL returns the URL at which network clients reach the embedded
// broker's listener ([broker] listen; with a random port, the port it
// got), or "" when there is none: no listener, or another kind of broker.
func (h *Host) BrokerURL() string {
	if h.nbus == nil {
		return ""
	}
	return h.nbus.ClientURL()
}
