package dev.clip4j.zeroshot;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import org.junit.jupiter.api.Test;

class PromptTemplatesTest {

  @Test
  void openAiImagenetIsOpenClipsEightyTemplatesInOrder() {
    var t = PromptTemplates.OPENAI_IMAGENET;
    assertThat(t).hasSize(80);
    assertThat(new HashSet<>(t)).hasSize(80);
    assertThat(t).allSatisfy(s -> assertThat(s.split("\\{\\}", -1)).hasSize(2));
    // Spot checks against open_clip's zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES.
    assertThat(t.get(0)).isEqualTo("a bad photo of a {}.");
    assertThat(t.get(10)).isEqualTo("the embroidered {}.");
    assertThat(t.get(35)).isEqualTo("a {} in a video game.");
    assertThat(t.get(39)).isEqualTo("a photo of a {}.");
    assertThat(t.get(59)).isEqualTo("itap of the {}.");
    assertThat(t.get(79)).isEqualTo("a tattoo of the {}.");
    assertThat(PromptTemplates.named("openai-imagenet")).isSameAs(t);
    assertThat(PromptTemplates.named("OpenAI-ImageNet")).isSameAs(t);
    assertThat(PromptTemplates.named("imagenet")).isNull();
    assertThat(PromptTemplates.DEFAULT).isEqualTo("a photo of a {}.");
  }
}
