package console

import "net/http"

// MachinePaths are the daemon's machine endpoints (package httpapi). They
// keep their own rules (probes, Prometheus, WeChat Pay's signatures, the
// plugin's token) and are never behind the login.
func MachinePaths() []string {
	return []string{"/healthz", "/readyz", "/metrics", "/callbacks/wxpay", "/plugin/sign"}
}

// WithMachine returns the daemon's handler: MachinePaths go to machine,
// everything else to console.
func WithMachine(machine, console http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range MachinePaths() {
		mux.Handle(p, machine)
	}
	mux.Handle("/", console)
	return mux
}
