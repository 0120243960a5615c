package broker

import (
	"context"
	"log/slog"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/schedule"
)

// ScheduleState returns where the schedules' latest ticks are kept: a KV
// bucket beside nbus, which every daemon sharing the broker reads, or
// memory without one (or when the bucket cannot be opened, with an error
// logged: missed ticks are then not caught up).
func ScheduleState(ctx context.Context, nbus *natsbus.Bus, log *slog.Logger) schedule.State {
	if nbus == nil {
		return &schedule.Memory{}
	}
	st, err := natsbus.ScheduleStore(ctx, nbus)
	if err != nil {
		log.Error("the schedules' state is kept in memory: missed ticks will not be caught up", slog.Any("error", err))
		return &schedule.Memory{}
	}
	return schedule.KVState{Store: st}
}
