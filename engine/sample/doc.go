// Package sample picks the next token of one sequence from the model's logits
// and cuts generated text at stop strings.
//
// A Sampler is owned by one sequence for its whole life. Its random stream is
// private, so a seeded request draws the same tokens whatever else shares the
// batch, and its scratch memory is sized once in New so that Sample does not
// allocate per token.
//
// The pipeline follows vLLM and Hugging Face, in this order:
//
//  1. repetition penalty over prompt and generated tokens (HF/CTRL),
//  2. frequency and presence penalties over generated tokens (OpenAI),
//  3. log-probabilities, as log_softmax of the penalized logits: the model's
//     distribution after penalties but before temperature and truncation,
//     like vLLM's default,
//  4. greedy argmax when Temperature is 0, otherwise temperature, top-k,
//     top-p, min-p, renormalization and one inverse-CDF draw over the kept
//     tokens in descending-probability order.
package sample
