import { decode, encode } from '../dtype.js';
import type { Tensor } from '../tensor/tensor.js';

/** Copy src's values into dst's storage in place (any backends, any float dtypes). */
export async function writeInto(dst: Tensor, src: Tensor): Promise<void> {
  const raw = await src.dataRaw();
  const values = src.dtype === dst.dtype ? raw : encode(dst.dtype, decode(src.dtype, raw));
  dst.backend.write(dst.handle, values);
}
