package pdk

import "fmt"

// Level is the severity of a log line (ABI host function log).
type Level int32

// The log levels of ABI v1.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// String returns "debug", "info", "warn", "error" or "level(N)".
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return fmt.Sprintf("level(%d)", int32(l))
}

// Log writes one log line at level. The host adds the plugin's name and
// the event being handled, and caps the volume per call (lines past the cap
// are dropped and counted). Output written to os.Stdout and os.Stderr
// becomes log lines too, but without a level.
func Log(level Level, msg string) { hostLog(level, msg) }

// Debug logs msg at LevelDebug.
func Debug(msg string) { hostLog(LevelDebug, msg) }

// Info logs msg at LevelInfo.
func Info(msg string) { hostLog(LevelInfo, msg) }

// Warn logs msg at LevelWarn.
func Warn(msg string) { hostLog(LevelWarn, msg) }

// Error logs msg at LevelError. (It logs; it does not fail the event: return
// an error from the handler for that.)
func Error(msg string) { hostLog(LevelError, msg) }

// Debugf logs at LevelDebug, formatting as fmt.Sprintf.
func Debugf(format string, args ...any) { hostLog(LevelDebug, fmt.Sprintf(format, args...)) }

// Infof logs at LevelInfo, formatting as fmt.Sprintf.
func Infof(format string, args ...any) { hostLog(LevelInfo, fmt.Sprintf(format, args...)) }

// Warnf logs at LevelWarn, formatting as fmt.Sprintf.
func Warnf(format string, args ...any) { hostLog(LevelWarn, fmt.Sprintf(format, args...)) }

// Errorf logs at LevelError, formatting as fmt.Sprintf. Unlike fmt.Errorf
// it returns nothing.
func Errorf(format string, args ...any) { hostLog(LevelError, fmt.Sprintf(format, args...)) }
