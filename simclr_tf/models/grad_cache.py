"""Exact large-batch SimCLR gradients in micro-batches (gradient caching).

Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
(arXiv:2101.06983). NT-Xent couples the images of a batch only through their projections, so the
gradient of the whole batch's loss can be computed one chunk of images at a time:

1. projections (and the probe's inputs) of every chunk, without keeping activations;
2. the loss (NT-Xent with every replica's negatives, plus the probe's) on all of them, its
   gradient with respect to the projections, and the probe's own gradient;
3. each chunk again, this time under a tape, back-propagating its slice of the cached projection
   gradient; the parameter gradients are summed over chunks.

Peak memory is then one chunk's activations plus the views and projections of the whole batch;
the price is one more forward pass. Both passes see the same views: the whole per-replica batch
is augmented once and both passes slice it.

Batch norm in training mode normalises each chunk (both views of its images) with the chunk's
own statistics, as an unsynchronized replica of that size would; with synchronized batch norm
under a strategy, a chunk's statistics are those of the same chunk on every replica. Statistics
over the whole batch would need every layer's statistics before the next layer of any chunk can
run: one pass over all chunks per BN layer, not one extra pass in all, so it is not offered.
The moving statistics are updated once per chunk, in chunk order, exactly as plain steps over
the chunks would: the first (no-gradient) pass runs batch norm in training mode too (its outputs
must equal the second pass's), and its updates of the moving statistics are undone.

On one replica the chunk loops are `tf.while_loop`s with `parallel_iterations=1`: one traced
(and compiled) copy of the network whatever the number of chunks, and one chunk in flight at a
time (which is the point). Under a strategy with several replicas a loop body may not hold a
cross-replica step (`MirroredStrategy` raises "`merge_call` called while defining a new graph",
and synchronized batch norm and the update of mirrored moving statistics are such steps), so
there the loops are unrolled over the static number of chunks, each chunk made to wait for the
previous one by control dependencies: still one chunk at a time, but a graph (and a tracing
time) that grows with the number of chunks.
"""

import tensorflow as tf


def check_micro_batch_size(batch, micro_batch_size):
    """Raises a clear error unless the per-replica `batch` is a multiple of `micro_batch_size`."""
    if batch is not None and batch % micro_batch_size:
        raise ValueError(
            "The batch per replica must be a multiple of `micro_batch_size`. Received: batch per "
            f"replica={batch}, micro_batch_size={micro_batch_size} (global batch / replicas)."
        )


def _for_each_chunk(num_chunks, body, carry, unroll):
    """`carry = body(i, carry)` for i in range(num_chunks), one chunk after the other."""
    if not unroll:
        return tf.while_loop(
            lambda i, *_: i < num_chunks, lambda i, *c: (i + 1, *body(i, c)),
            (tf.constant(0), *carry), parallel_iterations=1)[1:]
    for i in range(num_chunks):
        # Everything of chunk i (even its weight reads) waits for chunk i - 1, so the graph
        # executor cannot run chunks side by side and hold several chunks' activations.
        previous = [c.flow if isinstance(c, tf.TensorArray) else c for c in carry]
        with tf.control_dependencies(previous):
            carry = body(i, carry)
    return carry


def loss_and_gradients(model, data):
    """The plain step's `(loss, contrast, probe_terms, gradients, variables)`, in chunks.

    `model` is a `simclr_tf.SimCLR` with `micro_batch_size > 0`; its `_prepare`, `_forward`,
    `_loss`, `_scaled_loss` and `_trainable_for` define the step, so this follows them.
    """
    micro = model.micro_batch_size
    views, labels = model._prepare(data)
    view1, view2 = tf.split(views, 2, axis=0)
    batch = view1.shape[0]
    check_micro_batch_size(batch, micro)
    if batch is None:
        batch = tf.shape(view1)[0]
        tf.debugging.assert_equal(
            batch % micro, 0,
            message=f"The batch per replica must be a multiple of micro_batch_size={micro}")
    num_chunks = batch // micro
    unroll = tf.distribute.get_strategy().num_replicas_in_sync > 1
    if unroll and not isinstance(num_chunks, int):
        raise ValueError(
            "Under a strategy with several replicas, micro-batching needs a static batch: batch "
            "the dataset with `drop_remainder=True`.")
    chunk_shape = [num_chunks, micro] + view1.shape[1:].as_list()
    view1 = tf.reshape(view1, chunk_shape)
    view2 = tf.reshape(view2, chunk_shape)

    def chunk(i):
        # Both views of the chunk's images in one pass, as the plain step's single encoder pass.
        return tf.concat([view1[i], view2[i]], axis=0)

    use_probe = labels is not None
    probe_layer = model.probe_from_projection_layer

    # --- 1. projections and probe inputs, no tape ---------------------------------------
    state = model.encoder.non_trainable_variables + model.projection_head.non_trainable_variables
    saved = [tf.identity(v) for v in state]

    def forward_body(i, carry):
        projections, probe_inputs = carry
        outputs, head_outputs = model._forward(chunk(i), training=True)
        projections = projections.write(i, tf.cast(outputs["projection"], tf.float32))
        if use_probe:
            # float32, as the (float32) probe casts its inputs anyway.
            probe_inputs = probe_inputs.write(i, tf.cast(head_outputs[probe_layer], tf.float32))
        return projections, probe_inputs

    projections = tf.TensorArray(tf.float32, size=num_chunks)
    probe_inputs = tf.TensorArray(tf.float32, size=num_chunks if use_probe else 1)
    projections, probe_inputs = _for_each_chunk(
        num_chunks, forward_body, (projections, probe_inputs), unroll)
    # Undo pass 1's moving-statistics updates: pass 3 makes them, once per chunk.
    for variable, value in zip(state, saved):
        variable.assign(value)

    def unchunk(stacked):
        """(chunks, 2 * micro, ...) -> (2 * batch, ...) in the plain step's [view1; view2] order."""
        stacked = tf.stack(tf.split(stacked, 2, axis=1))  # (2, chunks, micro, ...)
        return tf.reshape(stacked, tf.concat([[-1], tf.shape(stacked)[3:]], axis=0))

    projection = unchunk(projections.stack())

    # --- 2. loss on the whole batch, its gradient w.r.t. the projections --------------------
    probe_variables = model.probe.trainable_variables if use_probe else []
    with tf.GradientTape() as tape:
        tape.watch(projection)
        logits = model.probe(unchunk(probe_inputs.stack())) if use_probe else None
        loss, contrast, probe_terms = model._loss(projection, logits, labels)
        scaled = model._scaled_loss(loss)
    projection_grad, *probe_grads = tape.gradient(scaled, [projection] + probe_variables)
    projection_grad = tf.stack(tf.split(projection_grad, 2, axis=0))  # (2, batch, dim)
    projection_grad = tf.reshape(projection_grad, [2, num_chunks, micro, -1])

    # --- 3. each chunk under a tape, back-propagating its cached projection gradient --------
    variables = model._trainable_for(probe_terms)
    probe_ids = {id(v) for v in probe_variables}
    network = [v for v in variables if id(v) not in probe_ids]
    no_gradient = set()  # indices of variables the projections do not depend on (plain: None)

    def backward_body(i, sums):
        with tf.GradientTape() as tape:
            outputs, _ = model._forward(chunk(i), training=True)
            projection = tf.cast(outputs["projection"], tf.float32)
        upstream = tf.concat([projection_grad[0, i], projection_grad[1, i]], axis=0)
        grads = tape.gradient(projection, network, output_gradients=upstream)
        new_sums = []
        for j, (total, grad) in enumerate(zip(sums, grads)):
            if grad is None:
                no_gradient.add(j)
                new_sums.append(total)
            else:
                new_sums.append(total + tf.convert_to_tensor(grad))
        return tuple(new_sums)

    zeros = tuple(tf.zeros(v.shape, v.dtype) for v in network)
    sums = _for_each_chunk(num_chunks, backward_body, zeros, unroll)
    by_id = {id(v): (None if j in no_gradient else sums[j]) for j, v in enumerate(network)}
    by_id.update({id(v): g for v, g in zip(probe_variables, probe_grads)})
    gradients = [by_id[id(v)] for v in variables]
    return loss, contrast, probe_terms, gradients, variables
