// Package adaptersource turns a LoRA adapter id into a directory on local disk
// holding a PEFT adapter (adapter_config.json + adapter_model.safetensors),
// fetching it from its source into a disk cache on first use.
//
// # Adapter ids
//
// The sidecar receives the adapter part of an OpenAI `model` string (the gateway
// has already split off the deployment: "mydeploy/support-bot" reaches the
// sidecar as "support-bot"). ParseRef maps it to a source:
//
//	support-bot            local root: <root>/support-bot (used in place, never copied)
//	team/support-bot       local root: <root>/team/support-bot
//	hf://org/name          Hugging Face Hub (or a compatible server), revision "main"
//	hf://org/name@v2       ... at a branch, tag or commit; "@refs/pr/1" works too
//	s3://bucket/prefix     S3: objects prefix/adapter_config.json and
//	                       prefix/adapter_model.safetensors
//
// Local adapters are used in place because they already sit on local disk: a
// copy would double the disk use and the page cache for nothing. They are still
// validated on every Get, and the path is resolved through symlinks and must stay
// under the root.
//
// Remote adapters are downloaded by a Source into a temporary directory inside
// the Cache, checked (size and checksum where the source gives one, then the
// adapter's own structure), and renamed into place with a manifest written last,
// so a crash never leaves a half adapter that looks complete.
package adaptersource
