package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/queue"
)

const (
	rulesFile     = "../../configs/prometheus/alerts.yml"
	rulesTestFile = "../../configs/prometheus/alerts_test.yml"
	dashboardFile = "../../configs/grafana/issuer.json"
)

// TestPrometheusRules runs promtool over the alerting rules and their unit
// tests. `make test` installs promtool (scripts/need.sh) and sets
// ISSUER_REQUIRE_PROMTOOL, so there a missing promtool fails instead of
// skipping.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ISSUER_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found: scripts/need.sh promtool prometheus installs it")
		}
		t.Skip("promtool not found; scripts/need.sh promtool prometheus installs it")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = "../../configs/prometheus"
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// registeredNames describes every collector the daemon registers on
// /metrics and returns the metric names, histograms with their series'
// suffixes. Describe needs no database.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := &describingRegisterer{Registry: prometheus.NewRegistry()}
	cfg := config.Defaults()
	_, _, err := app.RegisterMetrics(reg, queue.NewStore(nil), app.NewLimiter(context.Background(), &cfg, nil), alert.New(alert.Config{}),
		func(context.Context, string) (time.Time, bool, error) { return time.Time{}, false, nil })
	require.NoError(t, err)
	names := map[string]bool{"up": true} // Prometheus's own, per target
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, d := range reg.descs {
		m := fq.FindStringSubmatch(d.String())
		require.NotNil(t, m, d.String())
		names[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	return names
}

type describingRegisterer struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (r *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return r.Registry.Register(c)
}

func (r *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// metricNames returns the issuer_* and up series an expression reads.
func metricNames(expr string) []string {
	return regexp.MustCompile(`\b(issuer_[a-z0-9_]+|up)\b`).FindAllString(expr, -1)
}

// TestMonitoringNamesExist: every metric the alerting rules and the
// dashboard query is one the daemon serves, so a rename cannot silently
// blind an alert.
func TestMonitoringNamesExist(t *testing.T) {
	t.Parallel()
	names := registeredNames(t)

	raw, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			used := metricNames(r.Expr)
			require.NotEmpty(t, used, r.Alert)
			for _, n := range used {
				require.True(t, names[n], "rule %s reads %s, which /metrics does not serve", r.Alert, n)
			}
		}
	}
	for _, want := range []string{"IssuerBatchHalted", "IssuerRowsInDoubt", "IssuerRowsInReview", "IssuerThrottledHigh",
		"IssuerNoReconcile", "IssuerInstanceDown", "IssuerCallbacksFailing", "IssuerLimiterAtCeiling"} {
		require.True(t, alerts[want], "missing rule %s", want)
	}

	// Every rule has a unit test in alerts_test.yml.
	tests, err := os.ReadFile(rulesTestFile)
	require.NoError(t, err)
	for a := range alerts {
		require.Contains(t, string(tests), "alertname: "+a+"\n", "alerts_test.yml does not test %s", a)
	}

	raw, err = os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int                      `json:"id"`
			Title   string                   `json:"title"`
			Type    string                   `json:"type"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		SchemaVersion int `json:"schemaVersion"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash), "configs/grafana/issuer.json is not JSON")
	require.NotEmpty(t, dash.UID)
	require.NotEmpty(t, dash.Title)
	require.Positive(t, dash.SchemaVersion)
	require.NotEmpty(t, dash.Panels)
	ids := map[int]bool{}
	var seen []string
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		require.NotEmpty(t, p.Title)
		require.NotEmpty(t, p.Type, p.Title)
		require.Positive(t, p.GridPos.W*p.GridPos.H, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.RefID, p.Title)
			used := metricNames(tg.Expr)
			require.NotEmpty(t, used, "panel %q: %s", p.Title, tg.Expr)
			for _, n := range used {
				require.True(t, names[n], "panel %q reads %s, which /metrics does not serve", p.Title, n)
				seen = append(seen, n)
			}
		}
	}
	sort.Strings(seen)
	for _, want := range []string{"issuer_batch_progress_ratio", "issuer_batch_spend_yuan", "issuer_recipients_unsettled", "issuer_callbacks_total"} {
		require.Contains(t, seen, want, "the dashboard should show %s", want)
	}
}
