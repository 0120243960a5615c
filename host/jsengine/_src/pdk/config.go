package pdk

// Config returns the plugin's configuration value for key (from the
// plugin's section of the host's config.toml) and whether it is set. A TOML
// string comes back as its text, any other TOML value (number, boolean,
// array, table) as its JSON form, e.g. "42", "true" or `["a","b"]`.
//
// Config works during package initialisation too, so a plugin may read its
// configuration once in an init function.
func Config(key string) (string, bool) {
	v, code := hostConfigGet(key)
	if code != 0 {
		return "", false
	}
	return string(v), true
}
