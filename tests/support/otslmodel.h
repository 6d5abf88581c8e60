/* tests/support/otslmodel.h - a copy of the tiny fixture model whose tokenizer has the OTSL tags. */
#ifndef QUIRE_OTSLMODEL_H
#define QUIRE_OTSLMODEL_H

/* Copies the model in folder `fixture` (config.json, model.safetensors, tokenizer.json) to `out`,
 * giving the 11 last-merged vocabulary entries (and dropping the merges that make or use them)
 * to "<otsl>", "</otsl>", "<nl>", "<fcel>", "<ecel>", "<ched>", "<rhed>", "<srow>", "<lcel>",
 * "<ucel>", "<xcel>" as added special tokens. With them decoding is constrained to OTSL, so the
 * random model always writes a valid table. Fails the running cmocka test on any error. */
void otsl_model_write(const char *fixture, const char *out);

#endif
