package schedule

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/httpapi"
)

// Routes implements httpapi.Routes: GET /v1/schedules.
func (r *Runner) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /v1/schedules", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, api.ScheduleList{Schedules: r.List()})
	})}}
}

var (
	descEvents = prometheus.NewDesc("evhost_schedule_events_total",
		"Ticks of each schedule, by result: published (by this daemon), duplicate (another daemon published it first), error (a failed publish).",
		[]string{"schedule", "result"}, nil)
	descNext = prometheus.NewDesc("evhost_schedule_next_timestamp_seconds",
		"When the next tick of each running schedule is due, in Unix seconds.", []string{"schedule"}, nil)
	descLastError = prometheus.NewDesc("evhost_schedule_last_error_timestamp_seconds",
		"When the latest failure of each schedule happened, in Unix seconds (absent without one).", []string{"schedule"}, nil)
)

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEvents
	ch <- descNext
	ch <- descLastError
}

// Collect implements prometheus.Collector.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.List() {
		for result, n := range map[string]uint64{"published": s.Produced, "duplicate": s.Duplicates, "error": s.Errors} {
			ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), s.Name, result)
		}
		if s.Next != nil && s.Enabled {
			ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, float64(s.Next.UnixNano())/1e9, s.Name)
		}
		if s.LastErrorTime != nil {
			ch <- prometheus.MustNewConstMetric(descLastError, prometheus.GaugeValue, float64(s.LastErrorTime.UnixNano())/1e9, s.Name)
		}
	}
}
