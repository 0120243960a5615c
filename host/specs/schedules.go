package specs

import (
	"github.com/robfig/cron/v3"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/schedule"
)

// Schedules maps the config's [[schedules]] to the schedule runner's
// specs. The config was validated: a cron expression or time zone that no
// longer parses (it cannot) leaves its schedule disabled.
func Schedules(cfg *config.Config) []schedule.Spec {
	out := make([]schedule.Spec, 0, len(cfg.Schedules))
	for _, s := range cfg.Schedules {
		sp := schedule.Spec{
			Name: s.Name, Cron: s.Cron, Every: s.Every, Timezone: s.Timezone,
			CatchUp: s.CatchUp == config.CatchUpOne, Enabled: s.Enabled,
			Event: event.Event{Type: s.Type, Source: s.Source, Subject: s.Subject, DataContentType: s.DataContentType, Data: s.Data},
		}
		if s.Every > 0 {
			sp.Times = schedule.Every(s.Every)
		} else if c, err := config.CronParser.Parse(s.Cron); err != nil {
			sp.Enabled = false
		} else {
			if loc, err := s.Location(); err == nil {
				if spec, ok := c.(*cron.SpecSchedule); ok {
					spec.Location = loc
				}
			}
			sp.Times = c
		}
		out = append(out, sp)
	}
	return out
}
