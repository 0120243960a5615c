// Package natsbus is the durable implementation of the bus contract
// (package bus) on NATS JetStream: evhost's `embedded` broker, a NATS
// server run inside the process with its files under a directory, and its
// `nats` broker, an external NATS cluster that several daemons share. It
// passes the conformance suite (bus/bustest) with the Persistent feature,
// and also provides plugins' key-value spaces on JetStream KV (KV), the
// run log (Runs), the deploy store of the modules and releases that
// every daemon of a cluster runs (Deploys, DialDeploys; see deploy.go),
// and the snapshots and restores of its streams for backups (Snapshots,
// DialSnapshots; see backup.go).
//
// It is the one package of evhost that imports the NATS server, and with
// host/sources (which reads other applications' subjects, reaching the
// embedded server through Endpoint) the one that imports the client;
// nothing it exports exposes a NATS type. It imports host/bus, host/event,
// host/kv, host/runlog and the standard library besides, and must not
// import config, dispatch or the daemon: it takes its settings as Options.
//
// # On the server
//
// With the default prefix "evhost":
//
//	stream evhost_events   subjects evhost.events.<type>              every event, the audit log (limits: MaxAge, MaxBytes)
//	                                evhost.redrive.<subscription>.<type> events redriven to one subscription
//	                                evhost.delayed.<msg id>            delayed events until their time (delayed.go)
//	stream evhost_dlq      subjects evhost.dlq.<subscription>          dead letters
//	stream evhost_runs     subjects evhost.runs.batch                  handler runs and outcomes, batched (Runs; limits: RunsOptions)
//	                                evhost.runs.<hash of event id>     the same, one per message, from versions before the batches
//	consumer <subscription> on evhost_events                           one durable pull consumer per subscription
//	consumer <subscription>~<k> on evhost_events                       partition k of a partitioned one (see partition.go)
//	stream evhost_members  subjects evhost.members.<subscription>.<id> the processes running each subscription (Join; memory, 3 s)
//	KV bucket evhost_kv_<plugin>                                       one per plugin (KV)
//	object store evhost_deploy   objects modules/<sha256 hex>          plugin modules by digest (Deploys)
//	KV bucket evhost_release     key release                           the current release and the 15 before it
//	KV bucket evhost_schedules   key <schedule>                        the latest tick of each schedule (ScheduleStore)
//
// An event is a message in the CloudEvents binary content mode: the
// attributes in ce-* headers (percent-encoded), the data as the body, and
// a Nats-Msg-Id of 22 characters derived from its source and id, which
// JetStream deduplicates within Options.DedupWindow. Messages in the
// structured mode (the CloudEvents JSON format), published by others on
// the same subjects, are read too.
//
// # Subscriptions
//
// Subscribe creates or updates the durable consumer named after the
// subscription: explicit acks, its AckWait, deliver-new on creation (so a
// subscription gets the events published after it was created, and keeps
// its position from then on, across restarts), filter subjects made from
// its patterns, and the subscription's settings (patterns, queue bound,
// max attempts, backoff) in the consumer's metadata, where every process
// sharing the subscription finds them. Several consumers, in one process or
// many, share the subscription's work.
//
// JetStream applies a consumer's filter when it delivers, not when it
// stores, and refuses overlapping filters; the bus bridges the difference
// (see filter.go): overlapping patterns are widened and each message is
// checked against the real ones, and when Subscribe changes the patterns
// of a subscription that holds events, the old patterns keep selecting
// the events published before the change.
//
// Each consumer (Subscriber) has its own connection and pulls with its own
// requests: at most one open request at a time, for as many deliveries as
// the Next or Fetch calls waiting asked for (up to 512), open until it has
// them or two seconds have passed. While its callers take deliveries
// quickly, a consumer asks ahead instead: for as many as they took in the
// last 50 ms at their recent rate, and at most twice as many as they took
// since its last request (up to 512), of the messages stored at that
// moment only (a request that does not wait), so that a busy
// consumer does not pay a round trip per delivery and events published
// later still go to the consumer that asks. Messages of a request that
// arrive after the call returned (it took what was there, it asked ahead,
// or its context ended) wait for the next call, their ack wait running;
// Subscriber.Close gives them back at once, which counts as an attempt.
//
// # Attempts and dead letters
//
// The bus counts attempts itself, from the delivery count that JetStream
// stamps on every delivery, and the consumer's MaxDeliver is unlimited:
// a dead letter is written to evhost_dlq before the message is
// terminated, by the consumer that calls Term, that Naks the last attempt,
// or that holds the last attempt when its ack wait expires; an event the
// server delivers past its last attempt (the process that held it died) is
// dead-lettered by the consumer that receives it, without handing it out.
// Redrive publishes the event on the subscription's redrive subject and
// deletes the dead letter. Nak with a delay is JetStream's NakWithDelay.
//
// # Backpressure
//
// The queue bound of a subscription counts its messages not yet delivered
// plus those delivered and not acked (num_pending + num_ack_pending). An
// exact check would need a round trip to the server per publish, and
// would still race with other processes; the bus keeps an estimate
// instead: the server's counts, listed at most every Options.Refresh
// (200 ms) while this process publishes or consumes, plus what this
// process published for the subscription since, minus what it settled.
// The check is exact for a single process; with several, a subscription
// may go past its bound by what the others did since the last listing,
// and a refusal may come up to Options.Refresh late or early. Refusals
// stay all or nothing per event, as the contract says.
//
// # Limits
//
// Settings that another process gave a subscription reach this one with
// the next listing. Events older than Options.MaxAge, or pushed out by
// Options.MaxBytes, leave the stream whether or not every subscription
// has settled them. JetStream domains are not supported. Deliveries handed
// out hold an allocation each (their Settler), unlike the memory bus's.
package natsbus
