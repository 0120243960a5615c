// Package deploy is evhost's deploy mode: several daemons on one NATS
// cluster run the same plugins, from one place.
//
// `evhost deploy` (Deploy) builds and checks every plugin of a config,
// stores each module under its SHA-256 in the deploy store beside the
// events, and publishes a release: the config text without [host] and
// [broker], each plugin's path replaced by "sha256:<hex>". A daemon in
// deploy mode (a Follower) keeps [host] and [broker] from its own config
// and takes the rest from the current release; it fetches each module by
// digest (Modules: cached under <data_dir>/deploy, checked against its
// digest whenever it is read), and applies each new release as a config
// reload: build aside, check, swap, retire. A release that fails is
// refused as a whole and the running one keeps serving. Nothing is read
// from the plugins' files, so the daemons cannot drift apart.
//
// Releases are signed (Sign, SignedBytes) with the deployer's Ed25519 key;
// a Follower runs only releases that a key of its own [deploy] public_keys
// signed (Verify), and lets a release read only the environment variables
// and files its [deploy] allow_env and allow_files list. See RATIONALE.md.
//
// It is part of the composition: it reads host/config, and uses
// host/registry and host/specs to check plugins as a daemon loads them.
package deploy
