/* page_text.c - the hosted page's built-in texts per language and how the language is
 * chosen; see include/cx/page.h. A survey's own texts ("texts" in its definition) override
 * these key by key (src/page.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cx/page.h"

/* The languages, in the order of the columns below. */
static const char *const langs[] = { "en", "ru", "bg", "ar" };
#define NLANGS (sizeof(langs) / sizeof(langs[0]))

/* Right-to-left scripts: Arabic, Hebrew, Persian, Urdu, Yiddish, Pashto, Sindhi, Dhivehi,
 * Kurdish (Sorani), Uyghur. */
static const char *const rtl[] = { "ar", "he", "fa", "ur", "yi", "ps", "sd", "dv", "ckb", "ug" };

/* {title} in a question is the survey's title. */
static const struct {
	const char *key;
	const char *text[NLANGS];
} texts[] = {
	{ "q_nps", { "How likely are you to recommend {title} to a friend or colleague?",
		     "Насколько вероятно, что вы порекомендуете {title} другу или коллеге?",
		     "Колко вероятно е да препоръчате {title} на приятел или колега?",
		     "ما مدى احتمال أن توصي بـ {title} لصديق أو زميل؟" } },
	{ "q_csat", { "How satisfied are you with {title}?",
		      "Насколько вы довольны: {title}?",
		      "Колко сте доволни от {title}?",
		      "ما مدى رضاك عن {title}؟" } },
	{ "q_ces", { "How easy was it to get what you needed from {title}?",
		     "Насколько легко было решить ваш вопрос: {title}?",
		     "Колко лесно беше да получите нужното от {title}?",
		     "ما مدى سهولة الحصول على ما تحتاجه من {title}؟" } },
	{ "low_nps", { "Not at all likely", "Совсем маловероятно", "Изобщо не е вероятно",
		       "غير محتمل إطلاقًا" } },
	{ "high_nps", { "Extremely likely", "Очень вероятно", "Много вероятно", "محتمل جدًا" } },
	{ "low_csat", { "Very unsatisfied", "Очень недоволен", "Много недоволен",
			"غير راضٍ إطلاقًا" } },
	{ "high_csat", { "Very satisfied", "Очень доволен", "Много доволен", "راضٍ جدًا" } },
	{ "low_ces", { "Very difficult", "Очень сложно", "Много трудно", "صعب جدًا" } },
	{ "high_ces", { "Very easy", "Очень легко", "Много лесно", "سهل جدًا" } },
	{ "reason", { "What is the main reason for your score?",
		      "Какова главная причина вашей оценки?",
		      "Каква е основната причина за вашата оценка?",
		      "ما السبب الرئيسي لتقييمك؟" } },
	{ "submit", { "Submit", "Отправить", "Изпрати", "إرسال" } },
	{ "send", { "Send", "Отправить", "Изпрати", "إرسال" } },
	{ "skip", { "Skip", "Пропустить", "Пропусни", "تخطٍّ" } },
	{ "choose", { "Please choose a score first.", "Сначала выберите оценку.",
		      "Първо изберете оценка.", "يرجى اختيار تقييم أولًا." } },
	{ "thanks_title", { "Thank you!", "Спасибо!", "Благодарим!", "شكرًا لك!" } },
	{ "thanks_body", { "Your answer was received.", "Ваш ответ получен.",
			   "Отговорът ви е получен.", "تم استلام إجابتك." } },
	{ "broken_title", { "This link doesn't work", "Эта ссылка не работает",
			    "Тази връзка не работи", "هذا الرابط لا يعمل" } },
	{ "broken_body", { "The link may have been copied incompletely or changed. Open it "
			   "again from the message you received, or ask the sender for a new one.",
			   "Возможно, ссылка скопирована не полностью или изменена. Откройте её "
			   "ещё раз из полученного сообщения или попросите отправителя прислать "
			   "новую.",
			   "Връзката може да е копирана непълно или променена. Отворете я отново "
			   "от полученото съобщение или поискайте нова от подателя.",
			   "ربما نُسخ الرابط بشكل غير كامل أو تم تغييره. افتحه مرة أخرى من "
			   "الرسالة التي وصلتك، أو اطلب رابطًا جديدًا من المرسل." } },
	{ "expired_title", { "This link has expired", "Срок действия ссылки истёк",
			     "Връзката е изтекла", "انتهت صلاحية هذا الرابط" } },
	{ "expired_body", { "Answers are no longer taken through this link. If you still want "
			    "to share your opinion, ask the sender for a new link.",
			    "Ответы по этой ссылке больше не принимаются. Если вы хотите "
			    "поделиться мнением, попросите отправителя прислать новую ссылку.",
			    "Отговори по тази връзка вече не се приемат. Ако все пак искате да "
			    "споделите мнението си, поискайте нова връзка от подателя.",
			    "لم تعد الإجابات تُقبل عبر هذا الرابط. إذا كنت لا تزال ترغب في "
			    "مشاركة رأيك، فاطلب رابطًا جديدًا من المرسل." } },
	{ "answered_title", { "You already answered \xe2\x80\x94 thank you",
			      "Вы уже ответили \xe2\x80\x94 спасибо",
			      "Вече отговорихте \xe2\x80\x94 благодарим",
			      "لقد أجبت بالفعل \xe2\x80\x94 شكرًا لك" } },
	{ "answered_body", { "Your answer was received earlier and can no longer be changed.",
			     "Ваш ответ получен ранее и больше не может быть изменён.",
			     "Отговорът ви е получен по-рано и вече не може да бъде променян.",
			     "تم استلام إجابتك سابقًا ولم يعد من الممكن تغييرها." } },
	{ "fatigued_title", { "Thank you", "Спасибо", "Благодарим", "شكرًا لك" } },
	{ "fatigued_body", { "We received your feedback recently, so we are not collecting "
			     "another answer now.",
			     "Мы недавно получили ваш отзыв, поэтому сейчас не собираем новый ответ.",
			     "Наскоро получихме вашето мнение, затова сега не събираме нов отговор.",
			     "لقد تلقينا رأيك مؤخرًا، لذلك لا نجمع إجابة أخرى الآن." } },
	{ "notfound_title", { "This survey is not available", "Опрос недоступен",
			      "Анкетата не е достъпна", "هذا الاستطلاع غير متاح" } },
	{ "notfound_body", { "Check the address, or scan the code again.",
			     "Проверьте адрес или отсканируйте код ещё раз.",
			     "Проверете адреса или сканирайте кода отново.",
			     "تحقق من العنوان، أو امسح الرمز مرة أخرى." } },
	{ "invalid_title", { "This survey page is incomplete", "Страница опроса неполная",
			     "Страницата на анкетата е непълна", "صفحة الاستطلاع غير مكتملة" } },
	{ "invalid_body", { "The address is missing a part the survey needs, or names one it "
			    "does not have.",
			    "В адресе не хватает части, нужной опросу, или указана часть, которой "
			    "у опроса нет.",
			    "В адреса липсва част, която анкетата изисква, или е посочена част, "
			    "която тя няма.",
			    "ينقص العنوان جزء يحتاجه الاستطلاع، أو يذكر جزءًا ليس فيه." } },
	{ "retry_title", { "Please try again in a moment", "Попробуйте ещё раз через минуту",
			   "Моля, опитайте отново след малко", "يرجى المحاولة مرة أخرى بعد قليل" } },
	{ "retry_body", { "Your answer could not be saved just now. Go back and send it again.",
			  "Сейчас не удалось сохранить ваш ответ. Вернитесь назад и отправьте "
			  "его снова.",
			  "Отговорът ви не можа да бъде запазен сега. Върнете се и го изпратете "
			  "отново.",
			  "تعذّر حفظ إجابتك الآن. ارجع وأرسلها مرة أخرى." } },
	{ "error_title", { "Your answer was not sent", "Ваш ответ не отправлен",
			   "Отговорът ви не е изпратен", "لم تُرسل إجابتك" } },
	{ "error_body", { "Go back and check your answer.", "Вернитесь назад и проверьте ответ.",
			  "Върнете се и проверете отговора си.", "ارجع وتحقق من إجابتك." } },
};

static int lang_index(const char *lang)
{
	for (size_t i = 0; lang && i < NLANGS; i++)
		if (strcmp(lang, langs[i]) == 0)
			return (int)i;
	return -1;
}

int cx_page_lang_builtin(const char *lang)
{
	return lang_index(lang) >= 0;
}

int cx_page_lang_rtl(const char *lang)
{
	char primary[CX_PAGE_LANG_MAX];

	if (cx_page_lang_primary(lang, primary, sizeof(primary)))
		return 0;
	for (size_t i = 0; i < sizeof(rtl) / sizeof(rtl[0]); i++)
		if (strcmp(primary, rtl[i]) == 0)
			return 1;
	return 0;
}

const char *cx_page_text(const char *lang, const char *key)
{
	int li = lang_index(lang);

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].key, key) == 0)
			return texts[i].text[li < 0 ? 0 : li];
	return "";
}

int cx_page_lang_primary(const char *tag, char *out, size_t len)
{
	size_t n = 0;

	if (!tag)
		return -1;
	while (isalpha((unsigned char)tag[n]) && n < 8)
		n++;
	if (n < 2 || n >= len ||
	    (tag[n] && ((tag[n] != '-' && tag[n] != '_') || !isalnum((unsigned char)tag[n + 1]))))
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)tag[i]);
	out[n] = '\0';
	return 0;
}

/* The q-value at p ("q=0.8"), 0..1000, or -1 if malformed. */
static int qvalue(const char *p, size_t n)
{
	int q = 0, digits = 0;

	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	if (n < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return -1;
	p += 2, n -= 2;
	if (*p != '0' && *p != '1')
		return -1;
	q = (*p - '0') * 1000;
	p++, n--;
	if (n && *p == '.') {
		int scale = 100;

		for (p++, n--; n && isdigit((unsigned char)*p) && digits < 3; p++, n--, digits++) {
			q += (*p - '0') * scale;
			scale /= 10;
		}
	}
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	return (n || q > 1000) ? -1 : q;
}

int cx_page_accept_language(const char *header, int (*ok)(void *ctx, const char *lang),
			    void *ctx, char *out, size_t len)
{
	int best_q = 0, entries = 0;
	const char *p = header;

	if (!header)
		return -1;
	while (*p && entries < CX_PAGE_ACCEPT_ENTRIES) {
		size_t item = strcspn(p, ","), tag_len;
		const char *semi = memchr(p, ';', item);
		char tag[CX_PAGE_LANG_MAX + 8], primary[CX_PAGE_LANG_MAX];
		int q = 1000;

		entries++;
		while (item && (*p == ' ' || *p == '\t'))
			p++, item--;
		tag_len = semi ? (size_t)(semi - p) : item;
		while (tag_len && (p[tag_len - 1] == ' ' || p[tag_len - 1] == '\t'))
			tag_len--;
		if (semi)
			q = qvalue(semi + 1, item - (size_t)(semi - p) - 1);
		if (tag_len > 0 && tag_len < sizeof(tag) && q > best_q) {
			memcpy(tag, p, tag_len);
			tag[tag_len] = '\0';
			if (cx_page_lang_primary(tag, primary, sizeof(primary)) == 0 &&
			    strlen(primary) < len && ok(ctx, primary)) {
				memcpy(out, primary, strlen(primary) + 1);
				best_q = q;
			}
		}
		p += item;
		if (*p == ',')
			p++;
	}
	return best_q > 0 ? 0 : -1;
}

/* cxd has texts in lang, or the survey has its own in it */
static int lang_known(void *ctx, const char *lang)
{
	const struct cx_survey *s = ctx;

	return cx_page_lang_builtin(lang) ||
	       (s && s->texts && json_object_get(s->texts, lang) != NULL);
}

void cx_page_choose_lang(const struct cx_survey *s, const char *query, const char *claims,
			 const char *accept, char out[CX_PAGE_LANG_MAX])
{
	const char *given[2] = { query, claims };
	char primary[CX_PAGE_LANG_MAX];

	for (int i = 0; i < 2; i++)
		if (given[i] && cx_page_lang_primary(given[i], primary, sizeof(primary)) == 0 &&
		    lang_known((void *)s, primary)) {
			memcpy(out, primary, strlen(primary) + 1);
			return;
		}
	if (cx_page_accept_language(accept, lang_known, (void *)s, out, CX_PAGE_LANG_MAX) == 0)
		return;
	memcpy(out, "en", 3);
}
