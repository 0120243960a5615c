// Package orderkey compiles the order_by key of a plugin or webhook table
// (see bus.Subscription.Partitions): the attribute or the part of an
// event's JSON data whose value orders the subscription's events, such as
// "subject", "tenantid" (an extension attribute) or "data.customer.id".
//
// It imports host/event and the standard library only; it must not import
// host/config (which uses it to check keys) or anything that runs events.
package orderkey
