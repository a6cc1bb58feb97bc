package dev.clip4j.internal;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NamedTensor;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.named_parameter_iterator;
import org.bytedeco.pytorch.named_parameter_list;

/** Helpers over bytedeco's JitModule bindings. */
public final class JitModules {
  private JitModules() {}

  /**
   * The module's parameters (recursively) by qualified name, in registration order. Iterates by
   * count: the bindings' iterator does not override {@code equals}, so comparing with {@code end()}
   * never stops and reading past the end aborts the JVM.
   */
  public static Map<String, Tensor> namedParameters(JitModule module) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    named_parameter_list ps = module.named_parameters(true);
    long n = ps.size();
    named_parameter_iterator it = ps.begin();
    for (long i = 0; i < n; i++) {
      NamedTensor nt = it.access();
      // Copy the handle: value() points into the NamedTensor, which may be freed after this.
      out.put(nt.name().getString(), new Tensor(nt.value()));
      it = it.increment();
    }
    return out;
  }
}
