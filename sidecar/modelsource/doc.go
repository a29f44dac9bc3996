// Package modelsource turns a base model named on the Hugging Face Hub into a
// local path the engine loads, as vLLM and LoRAX do with Hub model ids: the
// files the engine needs are fetched once into a model cache, verified, and
// loaded from there on every later start.
//
// # Model ids
//
//	hf://org/name                    the repository at "main"
//	hf://org/name@REVISION           at a branch, tag or commit ("@refs/pr/1" works)
//	hf://org/name/FILE.gguf[@REV]    one GGUF file of a repository holding several
//
// Any other model string is a local path and is used as it is.
//
// # Which files
//
// The repository is listed at the revision with the Hub API (the listing also
// names the commit, which pins every download). Then, as vLLM's weight download
// does (safetensors first; with an index, only the shards it maps), one of:
//   - model.safetensors.index.json and the shards its weight_map names, or
//     model.safetensors, plus config.json and the tokenizer files present
//     (tokenizer.json, tokenizer_config.json, tokenizer.model,
//     special_tokens_map.json, generation_config.json, ...); the path loaded is
//     the snapshot folder;
//   - else the repository's one .gguf file, whose path is loaded. A repository
//     with several .gguf files needs the file in the id; the error lists them.
//
// A repository with neither (say, only pytorch_model.bin) is refused with the
// files it holds.
//
// # Cache
//
//	DIR/org--name/snapshots/COMMIT/              a safetensors snapshot
//	DIR/org--name/snapshots/COMMIT--FILE.gguf/   one GGUF file of that commit
//	    graft-manifest.json                      written last: marks it complete
//	DIR/org--name/refs/REVISION                  the commit REVISION last resolved to
//	DIR/org--name/tmp/                           downloads in progress
//	DIR/org--name/locks/                         one lock file per snapshot
//
// A snapshot is downloaded into tmp and renamed into place whole, so a crash or
// a failed verification never leaves one that looks complete. Starts on one
// machine that need the same snapshot take its lock in turn: the first
// downloads, the others find it installed. A revision that is a branch or tag
// is re-resolved on every start (one small API call); when the Hub cannot be
// reached, or HF_HUB_OFFLINE is set, the commit the revision last resolved to is
// used from the cache with a warning, as huggingface_hub does offline. A
// revision that is a full commit id and is cached needs no network at all.
package modelsource
